"""Backpropagation through time: the float64 reference OTTT is compared with.

Keeps every step's record of the batch (memory grows linearly with T) and, at the end of the
sample, differentiates sum_t L[t] exactly through the membrane recursion
u[t] = lam v[t-1] + I[t], v[t] = u[t] - threshold s[t]:

    dL/du[t] = dL/ds[t] sigma'(u[t] - threshold) + lam dL/du[t+1] dv[t]/du[t]
    dv[t]/du[t] = 1 with the reset detached (the paper's choice),
                  1 - threshold sigma'(u[t] - threshold) with the reset differentiated
    ('zero' reset: 1 - s[t], minus u[t] sigma' when differentiated)

Spikes feed the next layer at the same step; weights learn from the instantaneous
presynaptic activity (no traces), so the gradient is the exact one of the forward pass.
"""
from __future__ import annotations

import numpy as np

from chipsim import ops
from chipsim.rules.loss import step_loss_grad
from chipsim.rules.ottt import DENSE, backward
from chipsim.rules.surrogate import sigmoid_surrogate


class BPTT:
    updates_every_step = False

    def __init__(self, *, alpha: float = 4.0, threshold: float = 1.0, leak: float = 0.5,
                 reset: str = "subtract", detach_reset: bool = True,
                 mse_weight: float = 0.05, timesteps: int = 6, chain: list | None = None):
        self.alpha, self.threshold, self.leak, self.reset = alpha, threshold, leak, reset
        self.detach_reset, self.mse_weight, self.timesteps = detach_reset, mse_weight, timesteps
        self.labels, self.records, self.chain = None, [], chain

    def begin(self, labels):
        self.labels, self.records = labels, []

    def step(self, t, record, weights):
        self.records.append(record)
        return None

    def end(self, weights):
        out = np.stack([r.u[-1] for r in self.records])
        deltas = np.stack([step_loss_grad(o, self.labels, self.mse_weight, self.timesteps)
                           for o in out])
        grads = self.gradients(self.records, weights, deltas)
        self.records = []
        return grads

    def gradients(self, records, weights, out_deltas):
        """Gradients of sum_t L[t] given dL/do[t] (T, B, C) for every step.

        Zeroing all but one step of ``out_deltas`` gives the gradient of that single L[t]
        through the full past.
        """
        n = len(weights)
        chain = self.chain or [(DENSE, ())] * n
        grad_w, grad_b = [None] * n, [None] * n
        g_current = out_deltas  # dL/dI of layer l at every step, (T, B, n_out)
        steps, batch = g_current.shape[:2]
        for l in range(n - 1, -1, -1):
            layer, prefix = chain[l]
            pre = np.stack([r.inputs[l] for r in records])
            flat = g_current.reshape(steps * batch, -1)  # steps x samples act as one batch
            grad_w[l] = ops.weight_grad(layer, flat, pre.reshape(steps * batch, -1))
            grad_b[l] = ops.bias_grad(layer, flat)
            if l == 0:
                break
            g_spikes = backward(layer, prefix, weights[l], flat).reshape(steps, batch, -1)
            u = np.stack([r.u[l - 1] for r in records])
            s = np.stack([r.spikes[l - 1] for r in records])
            sg = sigmoid_surrogate(u - self.threshold, self.alpha)
            dv_du = self._dv_du(u, s, sg)
            g_u = np.empty_like(g_spikes)
            g_v = np.zeros_like(g_spikes[0])  # dL/dv[t] = lam dL/du[t+1]
            for t in range(len(records) - 1, -1, -1):
                g_u[t] = g_spikes[t] * sg[t] + g_v * dv_du[t]
                g_v = self.leak * g_u[t]
            g_current = g_u
        return grad_w, grad_b

    def _dv_du(self, u, s, sg):
        if self.reset == "subtract":
            return np.ones_like(u) if self.detach_reset else 1.0 - self.threshold * sg
        return 1.0 - s if self.detach_reset else 1.0 - s - u * sg
