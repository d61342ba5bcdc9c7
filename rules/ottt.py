"""OTTT: Online Training Through Time (Xiao et al., NeurIPS 2022), float64 reference.

At every time step t, with no backpropagation through time (memory constant in T):

    delta_L   = dL[t]/do[t]                                  (rules.loss)
    grad W_L += delta_L^T pre_L[t]
    for l = L-1 .. 1:
        e_l       = delta_{l+1} W_{l+1}     (error 'backprop': a transposed read of W_{l+1})
                  = delta_L B_l             (error 'broadcast': fixed random feedback B_l)
        delta_l   = e_l * sigma'(u_l[t] - threshold)
        grad W_l += delta_l^T pre_l[t]

pre_l is the presynaptic trace a_{l-1}[t] = lam a_{l-1}[t-1] + s_{l-1}[t]; for the first layer
the raw input x[t] (the authors' wiring) or, with ``input_trace``, the input's own trace. A
CUBA layer's is that trace filtered by its current's decay, c[t] = lam_syn c[t-1] + a[t]
(``chipsim.float64.step``).
A recurrent layer (weights [W | W_rec]) adds the trace of its own spikes up to the last step,
a_l[t-1], for W_rec; its error stays instantaneous (the paper's recurrent case): what reaches
it from the layer above at step t, nothing through its own recurrence.
Per synapse this is the three-factor product error x postsynaptic surrogate x presynaptic trace.

Variant A sums the T step gradients with the weights frozen and applies them once per batch;
variant O applies each step's gradient right away, so later steps see the new weights.

For conv layers "delta^T pre" is the weight gradient of the convolution (summed over
positions) and "delta W" its transpose, then the transposes of any pooling/flatten in front
(``chipsim.ops``); ``chain`` gives the layers (default: all plain dense; a network with conv or
recurrent layers needs its chain).
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from chipsim import ops
from chipsim.rules.loss import step_loss_grad
from chipsim.rules.surrogate import sigmoid_surrogate
from chipsim.seeding import stream


class OTTT:
    def __init__(self, *, variant: str = "A", error: str = "backprop", alpha: float = 4.0,
                 threshold: float | list = 1.0, mse_weight: float = 0.05, timesteps: int = 6,
                 input_trace: bool = False, feedback: list[np.ndarray] | None = None,
                 chain: list | None = None):
        if variant not in ("A", "O") or error not in ("backprop", "broadcast"):
            raise ValueError(f"OTTT: unknown variant {variant!r} or error path {error!r}")
        if error == "broadcast" and feedback is None:
            raise ValueError("OTTT: the broadcast error path needs feedback matrices")
        self.variant, self.error, self.alpha = variant, error, alpha
        self.threshold, self.mse_weight, self.timesteps = threshold, mse_weight, timesteps
        self.input_trace, self.feedback, self.chain = input_trace, feedback, chain
        self.updates_every_step = variant == "O"
        self.labels = None
        self.accumulated = None

    def begin(self, labels: np.ndarray) -> None:
        self.labels = labels
        self.accumulated = None

    def step(self, t, record, weights):
        grads = self.step_gradients(record, weights)
        if self.updates_every_step:
            return grads
        self.accumulated = grads if self.accumulated is None else _add(self.accumulated, grads)
        return None

    def end(self, weights):
        return None if self.updates_every_step else self.accumulated

    def threshold_of(self, l: int) -> float:
        """The firing threshold of synaptic layer l (one for all, or a list per layer)."""
        return self.threshold[l] if isinstance(self.threshold, (list, tuple)) else self.threshold

    def step_gradients(self, record, weights):
        """(dW per layer, db per layer) of L[t] at the weights in effect at step t."""
        n = len(weights)
        chain = self.chain or [(DENSE, ())] * n
        out_delta = step_loss_grad(record.u[-1], self.labels, self.mse_weight, self.timesteps)
        grad_w, grad_b = [None] * n, [None] * n
        delta = out_delta
        for l in range(n - 1, -1, -1):
            layer, prefix = chain[l]
            pre = record.traces[l] if (l > 0 or self.input_trace) else record.inputs[l]
            if l == 0 and not self.input_trace and layer.recurrent:
                n_in = layer.n_in  # raw input for W, the own spikes' trace for W_rec
                pre = np.concatenate([pre[:, :n_in], record.traces[l][:, n_in:]], axis=1)
            grad_w[l] = ops.weight_grad(layer, delta, pre)
            grad_b[l] = ops.bias_grad(layer, delta)
            if l == 0:
                break
            if self.error == "backprop":
                e = backward(layer, prefix, weights[l], delta)
            else:
                e = out_delta @ self.feedback[l - 1]
            delta = e * sigmoid_surrogate(record.u[l - 1] - self.threshold_of(l - 1), self.alpha)
        return grad_w, grad_b


DENSE = SimpleNamespace(kind="dense", recurrent=False)  # what ops needs of a plain dense layer


def backward(layer, prefix, w, delta):
    """delta of a layer's currents carried back to the spikes of the layer below it."""
    e = ops.transpose(layer, w, delta)
    if layer.recurrent:  # [W | W_rec]: the layer below sees W
        e = e[..., :layer.n_in]
    for op in reversed(prefix):
        e = ops.transpose(op, None, e)
    return e


def _add(a, b):
    return [x + y for x, y in zip(a[0], b[0])], [x + y for x, y in zip(a[1], b[1])]


def feedback_matrices(layer_sizes: list[int], n_classes: int, seed: int) -> list[np.ndarray]:
    """Fixed random feedback B_l (n_classes, n_l) for each hidden layer l, for 'broadcast'.

    B_l ~ U(-b, b), b = sqrt(3 / n_l): the scale of a read-out weight fed by layer l, so the
    broadcast error has the size the backprop error would have one layer below the read-out.
    """
    out = []
    for i, n in enumerate(layer_sizes):
        bound = math.sqrt(3.0 / n)
        out.append(stream(seed, "feedback", i).uniform(-bound, bound, (n_classes, n)))
    return out
