"""Stochastic gradient descent exactly as torch.optim.SGD (dampening 0, no Nesterov)."""
import numpy as np


class SGD:
    """d = g + weight_decay p; buf = d at the first step, else momentum buf + d; p -= lr buf.

    Buffers persist across steps and batches, as a torch optimizer created once per run.
    """

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers: list = []

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update ``params`` in place with ``grads`` (same order every call)."""
        if not self.buffers:
            self.buffers = [None] * len(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            d = g + self.weight_decay * p if self.weight_decay else g
            if self.momentum:
                if self.buffers[i] is None:
                    self.buffers[i] = np.array(d, copy=True)
                else:
                    self.buffers[i] *= self.momentum
                    self.buffers[i] += d
                d = self.buffers[i]
            p -= self.lr * d
