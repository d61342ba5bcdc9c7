"""Backpropagation through time: the float64 reference OTTT is compared with.

Keeps every step's record of the batch (memory grows linearly with T) and, at the end of the
sample, differentiates sum_t L[t] exactly through the membrane recursion of each layer's own
neuron, u[t] = lam v[t-1] + I[t], v[t] = u[t] - threshold s[t]:

    dL/du[t] = dL/ds[t] sigma'(u[t] - threshold) + dL/du[t+1] du[t+1]/du[t]
    du[t+1]/du[t] = lam with the reset detached (the paper's choice),
                    lam (1 - threshold sigma'(u[t] - threshold)) with it differentiated
    ('zero' reset: lam (1 - s[t]), minus lam u[t] sigma' when differentiated;
     reset at the next step, u[t+1] = lam u[t] + I - threshold s[t]: lam, or
     lam - threshold sigma' when differentiated)

Spikes feed the next layer at the same step; weights learn from the instantaneous
presynaptic activity (no traces), so the gradient is the exact one of the forward pass.
A recurrent hidden layer (weights [W | W_rec], u[t] = lam v[t-1] + W x[t] + W_rec s[t-1])
also carries its error back through its own spikes: dL/ds[t] += dL/dI[t+1] W_rec. A CUBA
neuron's synaptic current I[t] = lam_syn I[t-1] + W x[t] carries it back in time too:
dL/dI[t] = dL/du[t] + lam_syn dL/dI[t+1] (without one, dL/dI = dL/du).
"""
from __future__ import annotations

import numpy as np

from chipsim import ops
from chipsim.mapping.network import Neuron
from chipsim.rules.loss import step_loss_grad
from chipsim.rules.ottt import DENSE, backward
from chipsim.rules.surrogate import sigmoid_surrogate


class BPTT:
    updates_every_step = False

    def __init__(self, *, alpha: float = 4.0, neurons: list | None = None,
                 detach_reset: bool = True, mse_weight: float = 0.05, timesteps: int = 6,
                 chain: list | None = None):
        """``neurons``: each synaptic layer's Neuron (default: chipsim's, tau 2, threshold 1)."""
        self.alpha, self.neurons = alpha, neurons
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
            neuron = self.neurons[l - 1] if self.neurons else Neuron()
            sg = sigmoid_surrogate(u - neuron.threshold, self.alpha)
            carry = self._du_next_du(neuron, u, s, sg)
            below = chain[l - 1][0]
            w_rec = weights[l - 1][:, below.n_in:] if below.recurrent else None
            syn = neuron.syn_leak
            g_current = np.empty_like(g_spikes)  # dL/dI[t]
            g_next = np.zeros_like(g_spikes[0])  # dL/du[t+1]
            g_i_next = np.zeros_like(g_spikes[0])  # dL/dI[t+1]
            for t in range(len(records) - 1, -1, -1):
                g_s = g_spikes[t] if w_rec is None else g_spikes[t] + g_i_next @ w_rec
                g_u = g_s * sg[t] + g_next * carry[t]
                g_current[t] = g_u + syn * g_i_next if syn else g_u
                g_next, g_i_next = g_u, g_current[t]
        return grad_w, grad_b

    def _du_next_du(self, neuron, u, s, sg):
        """du[t+1]/du[t] at every step (see the module docstring)."""
        lam, vth, detach = neuron.leak, neuron.threshold, self.detach_reset
        if neuron.reset_at == "next_step":
            return np.full_like(u, lam) if detach else lam - vth * sg
        if neuron.reset == "subtract":
            return np.full_like(u, lam) if detach else lam * (1.0 - vth * sg)
        return lam * (1.0 - s) if detach else lam * (1.0 - s - u * sg)
