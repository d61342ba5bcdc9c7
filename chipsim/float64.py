"""The float64 reference: the network's dynamics in real numbers, and its training loop.

This is what the fixed-point chip is measured against. One time step of a batch is a pure
function ``step(network, params, state, x_t) -> (state, record)``; the record holds what a
learning rule may look at (see ``chipsim.rules.base``), one entry per synaptic layer (dense
or conv2d); pooling and flatten transform the activity (and its trace) between them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from chipsim import ops
from chipsim.errors import DataError
from chipsim.mapping.network import Network
from chipsim.rules.weight_standardization import Standardization


@dataclass
class Params:
    """Float64 parameters per synaptic layer in network order (biases None when absent).

    ``weights`` are what the layers use. With scaled weight standardization (``ws``, a
    rules.weight_standardization.Standardization) the trainable parameters are ``raw``
    weights and, for standardized layers, ``gain``s (None for a plain layer) instead, and
    ``weights`` are derived from them after every update.
    """

    weights: list[np.ndarray]
    biases: list[Optional[np.ndarray]]
    raw: Optional[list[np.ndarray]] = None
    gain: Optional[list[Optional[np.ndarray]]] = None
    ws: Optional[Standardization] = None

    @classmethod
    def of(cls, network: Network, ws: Optional[Standardization] = None) -> "Params":
        """Parameters of ``network``. With ``ws``: raw weights and gains from the network's
        ``raw`` / ``gain`` (a weights file written by a standardized run) where present, else
        its weights as raw weights with gain 1."""
        names = [layer.name for layer in network.synaptic]
        weights = [network.weights[n].copy() for n in names]
        biases = [network.biases[n].copy() if n in network.biases else None for n in names]
        if ws is None:
            return cls(weights, biases)
        plain = [n for n, own in zip(names, ws.standardized) if not own and n in network.gain]
        if plain:
            raise DataError(f"network.init.weights: gains given for {', '.join(plain)}, which "
                            "this run does not standardize (a plain read-out: network."
                            "weight_standardization.readout: false); set readout: true to "
                            "continue a run that standardized it, or drop the '.gain' arrays")
        raw = [network.raw.get(n, network.weights[n]).copy() for n in names]
        gain = [network.gain.get(n, np.ones(len(w))).copy() if own else None
                for n, w, own in zip(names, weights, ws.standardized)]
        params = cls(weights, biases, raw, gain, ws)
        params.refresh()
        return params

    def refresh(self) -> None:
        """Effective weights from raw weights and gains (in place)."""
        if self.ws is not None:
            for i, (w, raw, gain) in enumerate(zip(self.weights, self.raw, self.gain)):
                w[...] = self.ws.effective(i, raw, gain)

    def as_dicts(self, names: list[str]) -> tuple[dict, dict]:
        return (dict(zip(names, self.weights)),
                {n: b for n, b in zip(names, self.biases) if b is not None})

    def reparameterization(self, names: list[str]) -> dict[str, np.ndarray]:
        """'<layer>.raw' (every layer) and '<layer>.gain' (standardized layers) under
        standardization, for a weights file a later run continues from; else empty."""
        if self.ws is None:
            return {}
        out = {f"{n}.raw": r for n, r in zip(names, self.raw)}
        out.update({f"{n}.gain": g for n, g in zip(names, self.gain) if g is not None})
        return out

    def flat(self, grads=None) -> list[np.ndarray]:
        """Trainable parameters (or matching gradients) as one list, the optimizer's order:
        weights (raw weights, then the gains of standardized layers), then biases."""
        w, b = grads if grads is not None else (self.weights, self.biases)
        if self.ws is not None:
            if grads is None:
                w = list(self.raw) + [g for g in self.gain if g is not None]
            else:
                pairs = [self.ws.vjp(i, r, g, gw)
                         for i, (r, g, gw) in enumerate(zip(self.raw, self.gain, w))]
                w = [p[0] for p in pairs] + [p[1] for p in pairs if p[1] is not None]
        return list(w) + [g for g, own in zip(b, self.biases) if own is not None]


@dataclass(frozen=True)
class State:
    """Per spiking layer: membrane v (B, n), trace a (B, n), last spikes s (B, n) and
    synaptic current i (B, n; CUBA neurons), and a CUBA layer's eligibility c of its inputs
    (the shape of its presynaptic trace; None before the first step and for other layers);
    the input trace (B, n_in)."""

    v: tuple
    a: tuple
    a_in: np.ndarray
    s: tuple = ()
    i: tuple = ()
    c: tuple = ()


@dataclass(frozen=True)
class StepRecord:
    """What one time step leaves behind, per layer (see ``chipsim.rules.base``)."""

    inputs: tuple
    traces: tuple
    u: tuple
    spikes: tuple


def initial_state(network: Network, batch: int) -> State:
    spiking = [layer for layer in network.synaptic if layer.spiking]
    zeros = lambda: tuple(np.zeros((batch, l.n_out)) for l in spiking)  # noqa: E731
    return State(zeros(), zeros(), np.zeros((batch, network.n_inputs)), zeros(), zeros(),
                 (None,) * len(spiking))


def step(network: Network, params: Params, state: State, x_t: np.ndarray):
    """Advance the batch one time step on input x_t (B, n_inputs). Returns (state, record).

    Spiking layer: u = lam v + W pre (+ b); s = u >= threshold; v = u - threshold s; a = lam a + s
    (or the layer neuron's options: firing '>', reset at the next step, see Neuron; a CUBA
    neuron charges with its synaptic current i = lam_syn i + W pre (+ b) instead).
    Read-out: o = W pre (+ b), no state. W pre is ``ops.forward`` (dense or conv). A recurrent
    layer's pre is [pre, s[t-1]] (its trace [trace, a[t-1]]), its weights [W | W_rec].
    A CUBA layer's trace in the record is its eligibility c = lam_syn c + trace: u depends on
    W through the current's filter and then the membrane's, so OTTT's presynaptic trace is
    the cascade of the two (exact, as the plain trace is for LIF, with the reset detached).
    """
    a_in = network.neuron.leak * state.a_in + x_t
    pre, pre_trace = x_t, a_in
    inputs, traces, us, spikes, vs, as_, ss, is_, cs = [], [], [], [], [], [], [], [], []
    k = 0  # index among spiking layers
    for i, (layer, prefix) in enumerate(network.chain):
        for op in prefix:  # pooling and flatten are linear: the trace follows the spikes
            pre, pre_trace = ops.forward(op, None, pre), ops.forward(op, None, pre_trace)
        if layer.recurrent:  # its own spikes and trace of the last step
            pre, pre_trace = (np.concatenate([pre, state.s[k]], axis=1),
                              np.concatenate([pre_trace, state.a[k]], axis=1))
        current = ops.forward(layer, params.weights[i], pre)
        if params.biases[i] is not None:
            current = ops.add_bias(layer, current, params.biases[i])
        inputs.append(pre)
        traces.append(pre_trace)
        if not layer.spiking:
            us.append(current)
            spikes.append(None)
            continue
        nrn = network.neuron_of(layer)
        lam, vth = nrn.leak, nrn.threshold
        c = None
        if nrn.tau_syn > 1.0:  # a CUBA neuron charges with its synaptic current
            current = nrn.syn_leak * state.i[k] + current
            c = pre_trace if state.c[k] is None else nrn.syn_leak * state.c[k] + pre_trace
            traces[-1] = c
        is_.append(current)
        cs.append(c)
        if nrn.reset_at == "next_step" and nrn.reset != "subtract":
            raise ValueError("a reset at the next step is modelled for reset 'subtract' only")
        if nrn.reset_at == "next_step":  # snnTorch: last step's spike subtracts after the leak
            u = lam * state.v[k] + current - vth * state.s[k]
        else:
            u = lam * state.v[k] + current
        s = ((u > vth) if nrn.firing == ">" else (u >= vth)).astype(np.float64)
        if nrn.reset_at == "next_step":
            v = u
        else:
            v = u - vth * s if nrn.reset == "subtract" else u * (1.0 - s)
        a = lam * state.a[k] + s
        us.append(u)
        spikes.append(s)
        vs.append(v)
        as_.append(a)
        ss.append(s)
        pre, pre_trace = s, a
        k += 1
    return (State(tuple(vs), tuple(as_), a_in, tuple(ss), tuple(is_), tuple(cs)),
            StepRecord(tuple(inputs), tuple(traces), tuple(us), tuple(spikes)))


def output_of(record: StepRecord, predict_spikes: bool) -> np.ndarray:
    """What one step adds to the class scores: the output layer's spikes or its membrane
    (a read-out's o[t]). The prediction is the argmax of the sum (ties: the lowest class)."""
    return record.spikes[-1] if predict_spikes else record.u[-1]


def train_batch(network: Network, params: Params, x: np.ndarray, labels: np.ndarray,
                rule, optimizer, predict_spikes: bool = False, outputs=None) -> np.ndarray:
    """Run one batch x (B, T, in) through T steps while ``rule`` learns; returns predictions
    (and the output layer's u[t] into ``outputs`` (B, T, classes) when given).

    Predictions are argmax of the output summed over the steps (``output_of``), made while
    learning (for variant O the weights change within the sample, as on the chip).
    """
    batch, timesteps, _ = x.shape
    state = initial_state(network, batch)
    total = np.zeros((batch, network.n_outputs))
    rule.begin(labels)
    for t in range(timesteps):
        state, record = step(network, params, state, x[:, t])
        total += output_of(record, predict_spikes)
        if outputs is not None:
            outputs[:, t] = record.u[-1]
        grads = rule.step(t, record, params.weights)
        if grads is not None:
            optimizer.step(params.flat(), params.flat(grads))
            params.refresh()
    grads = rule.end(params.weights)
    if grads is not None:
        optimizer.step(params.flat(), params.flat(grads))
        params.refresh()
    return total.argmax(axis=1)


def infer(network: Network, params: Params, x: np.ndarray, record: tuple[str, ...] = (),
          predict_spikes: bool = False):
    """Frozen-weight inference on x (N, T, in). Returns (predictions (N,), recordings).

    ``record`` may hold 'spikes' and 'membrane'; recordings map '<layer>.<what>' to
    (N, T, units) arrays (membrane = u after charging, before reset; read-out: o[t]);
    'output': the output layer's u[t] as 'output' (N, T, classes).
    """
    n, timesteps, _ = x.shape
    state = initial_state(network, n)
    total = np.zeros((n, network.n_outputs))
    kept = {f"{layer.name}.{what}": np.zeros((n, timesteps, layer.n_out),
                                             np.uint8 if what == "spikes" else np.float64)
            for layer in network.synaptic for what in record
            if what in ("spikes", "membrane") and (layer.spiking or what == "membrane")}
    if "output" in record:
        kept["output"] = np.zeros((n, timesteps, network.n_outputs))
    for t in range(timesteps):
        state, rec = step(network, params, state, x[:, t])
        total += output_of(rec, predict_spikes)
        for i, layer in enumerate(network.synaptic):
            if f"{layer.name}.spikes" in kept:
                kept[f"{layer.name}.spikes"][:, t] = rec.spikes[i]
            if f"{layer.name}.membrane" in kept:
                kept[f"{layer.name}.membrane"][:, t] = rec.u[i]
        if "output" in kept:
            kept["output"][:, t] = rec.u[-1]
    return total.argmax(axis=1), kept


def single_threaded_blas():
    """A context in which BLAS uses one thread. The reference's matrices are small: threads
    cost more than they give, and on a loaded 2-core machine they slowed a conv network's
    training twelve-fold (measured)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


class Float64Model:
    """The float64 reference behind the runner's interface: train_batch, infer, weights."""

    def __init__(self, network: Network, rule, optimizer, ws: Optional[Standardization] = None,
                 predict_spikes: bool = False):
        self.network, self.rule, self.optimizer = network, rule, optimizer
        self.params = Params.of(network, ws)
        self.predict_spikes = predict_spikes

    def train_batch(self, x: np.ndarray, labels: np.ndarray, outputs: bool = False) -> np.ndarray:
        """Learn a batch; returns the predictions. ``outputs``: keep the output layer's u[t]
        of the batch (B, T, classes) in ``last_outputs``."""
        self.last_outputs = (np.zeros((x.shape[0], x.shape[1], self.network.n_outputs))
                             if outputs else None)
        return train_batch(self.network, self.params, x, labels, self.rule, self.optimizer,
                           self.predict_spikes, self.last_outputs)

    def infer(self, x: np.ndarray, record: tuple[str, ...] = (), losses_of=None):
        """``infer`` on this model; ``losses_of`` as the chip's (``Chip.infer``)."""
        preds, kept = infer(self.network, self.params, x,
                            (*record, "output") if losses_of is not None else record,
                            self.predict_spikes)
        if losses_of is not None:
            out = kept["output"] if "output" in record else kept.pop("output")
            kept["loss"] = losses_of(out, 0, len(out))
        return preds, kept

    def weights(self) -> tuple[dict, dict]:
        """(weights, biases) as float64 arrays keyed by layer name, (out, in) layout."""
        return self.params.as_dicts([layer.name for layer in self.network.synaptic])

    def reparameterization(self) -> dict[str, np.ndarray]:
        """Raw weights and gains under standardization ('<layer>.raw', '<layer>.gain')."""
        return self.params.reparameterization([layer.name for layer in self.network.synaptic])

    def state(self) -> dict[str, np.ndarray]:
        """Parameters and momentum buffers (views: a checkpoint fills them)."""
        params = self.params.flat()
        self.optimizer.ensure_buffers(params)
        arrays = {f"param.{i}": p for i, p in enumerate(params)}
        arrays.update({f"momentum.{i}": b for i, b in enumerate(self.optimizer.buffers)})
        if self.params.ws is not None:  # derived weights too, so a restore leaves them right
            arrays.update({f"weights.{i}": w for i, w in enumerate(self.params.weights)})
        return arrays

    def reset_inference_counts(self) -> None:
        """The reference counts no hardware events."""
