"""Stochastic gradient descent exactly as torch.optim.SGD (dampening 0, no Nesterov)."""
import numpy as np


class SGD:
    """d = g + weight_decay p; buf = momentum buf + d; p -= lr buf.

    Torch sets buf = d at the first step; starting from buf = 0 gives exactly that
    (momentum x 0 + d = d). Buffers persist across steps and batches, as a torch optimizer
    created once per run.
    """

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers: list[np.ndarray] = []

    def ensure_buffers(self, params: list[np.ndarray]) -> None:
        if self.momentum and not self.buffers:
            self.buffers = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update ``params`` in place with ``grads`` (same order every call)."""
        self.ensure_buffers(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            d = g + self.weight_decay * p if self.weight_decay else g
            if self.momentum:
                self.buffers[i] *= self.momentum
                self.buffers[i] += d
                d = self.buffers[i]
            p -= self.lr * d
