"""Stochastic gradient descent exactly as torch.optim.SGD (dampening 0, no Nesterov), with
torch.nn.utils.clip_grad_norm_ in front of it when asked."""
from __future__ import annotations

import numpy as np


class SGD:
    """d = g + weight_decay p; buf = momentum buf + d; p -= lr buf.

    Torch sets buf = d at the first step; starting from buf = 0 gives exactly that
    (momentum x 0 + d = d). Buffers persist across steps and batches, as a torch optimizer
    created once per run. max_grad_norm: the gradients are first clipped together
    (``clip_grad_norm``), as torch's clip_grad_norm_ before optimizer.step().
    """

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 max_grad_norm: float | None = None):
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.max_grad_norm = max_grad_norm
        self.buffers: list[np.ndarray] = []

    def ensure_buffers(self, params: list[np.ndarray]) -> None:
        if self.momentum and not self.buffers:
            self.buffers = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update ``params`` in place with ``grads`` (same order every call)."""
        self.ensure_buffers(params)
        if self.max_grad_norm is not None:
            grads = clip_grad_norm(grads, self.max_grad_norm)
        for i, (p, g) in enumerate(zip(params, grads)):
            d = g + self.weight_decay * p if self.weight_decay else g
            if self.momentum:
                self.buffers[i] *= self.momentum
                self.buffers[i] += d
                d = self.buffers[i]
            p -= self.lr * d


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> list[np.ndarray]:
    """torch.nn.utils.clip_grad_norm_: every gradient times min(1, max_norm / (norm + 1e-6)),
    norm the L2 norm of all the gradients together (the norm of their norms, as torch)."""
    norm = np.linalg.norm([np.linalg.norm(g) for g in grads])
    coef = min(1.0, max_norm / (norm + 1e-6))
    return [g * coef for g in grads]
