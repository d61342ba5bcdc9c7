"""Read a NIR graph (``.nir``, HDF5) into a chipsim ``Network``.

What is read: one chain from the ``Input`` node to the ``Output`` node. Every synaptic node
(``Affine``, ``Linear``, ``Conv2d``) followed by a neuron node (``LIF``, ``IF``, ``CubaLIF``)
becomes one chipsim layer (``Dense`` / ``Conv2d``, named after the synaptic node) with that
neuron; a synaptic node followed by ``Output``, or by an ``LI`` / ``CubaLI`` node and then
``Output``, becomes the non-spiking read-out (the last layer, spiking=False). ``SumPool2d`` /
``AvgPool2d`` become ``Pool2d`` and ``Flatten`` becomes ``Flatten`` (always a full flatten to a
vector). A neuron node whose spikes return to it through a synaptic node of its own (the
cycle snnTorch's exporter writes for ``RLeaky``: ``lif -> w_rec -> lif``; a nested graph of
that shape is read the same) becomes a recurrent dense layer, weights [W | W_rec] and the two
biases summed (they add to the same current every step). Other branches, merges, cycles and
every other node type are refused with a ``DataError`` naming the node. NIR parameters are
per neuron; chipsim's neuron is per layer, so each parameter must be uniform within a layer
(else ``DataError`` naming the node, the parameter and its spread). An ``Affine`` /
``Conv2d`` bias that is all zeros is dropped (adding 0.0 changes no result); others are kept,
and the chip runs them. A ``Conv2d`` bias is kept per output channel (out_channels,), as the
torch state_dict importer does. Parameters compared for agreement (snnTorch's r = tau/dt; a
CubaLIF's tau_syn = dt, which means no synaptic current) are compared to ``ULPS`` units in
the last place of their dtype: snnTorch's exporter ships float32.

The NIR specification gives continuous-time equations (``nir/ir/neuron.py``):

    LIF:  tau dv/dt = (v_leak - v) + r I;  z = 1 if v > v_threshold;  then v = v_reset
    IF:       dv/dt = r I;                  same spike and reset
    LI:   tau dv/dt = (v_leak - v) + r I    (no spike)
    CubaLIF: tau_syn dI/dt = -I + w_in S, then LIF with tau_mem

and leaves the discretisation to the reader. A *convention* says how a file's parameters
become chipsim's discrete neuron (``chipsim.mapping.network.Neuron``):
``u[t] = lam v[t-1] + I[t]`` with lam = 1 - 1/tau_steps. In every convention the leak is the
forward-Euler one, lam = 1 - dt/tau (tau_steps = tau/dt, nudged by at most a few ulps so that
chipsim's 1 - 1/tau_steps equals 1 - dt/tau exactly), IF has lam = 1 (tau = inf), v_leak must
be 0 (chipsim's neurons rest at 0) and v_reset must be 0 (the only reset potential chipsim has).
The threshold is v_threshold. What differs:

``convention='nir'`` (the spec alone; dt default 1.0):
    input scale dt r / tau (IF: dt r; CubaLIF: (dt/tau_syn) w_in dt r / tau_mem), folded into
    the preceding weights and bias, so that v[t] = (1 - dt/tau) v[t-1] + (dt r/tau) I[t] exactly
    as forward Euler gives; firing ``'>'`` (the spec's z = 1 if v > v_threshold); reset
    ``'zero'`` in the same step (the spec sets v = v_reset = 0 after a spike).

``convention='snntorch'`` (files from snnTorch's ``export_to_nir``; dt default 1e-4):
    the exporter writes tau = dt/(1 - beta), r = tau/dt, v_leak = 0 and v_reset = 0 with its
    hard-coded dt = 1e-4, and its ``Leaky`` neuron computes mem = beta mem + input - threshold
    reset, reset = H(mem[t-1] - threshold), spike = H(mem - threshold) with H(x) = x > 0. So:
    lam = beta: the exporter's beta is found back from tau (``_exported_leak``; it computes in
    float32 for a float32 model, so 1 - dt/tau alone misses beta by ~1e-9), else 1 - dt/tau;
    input scale 1 (r = tau/dt is checked to the file's precision: another r means the file is
    not such an export, or dt is wrong),
    firing ``'>'``, reset ``'subtract'`` at the next step (``reset_at='next_step'``): the
    v_reset = 0 the exporter writes does not describe its own neurons, which subtract. The
    exporter records neither ``reset_mechanism`` nor ``reset_delay``; this convention assumes
    snnTorch's defaults ('subtract', reset_delay=True).

``convention='chipsim'`` (files from ``chipsim.mapping.to_nir.write_nir``; dt default: the
file's ``dt`` metadata, else 1.0):
    lam = 1 - dt/tau (write_nir stores tau = tau_steps dt, so tau_steps comes back exactly when
    dt is a power of two, e.g. the default 1), input scale dt r / tau (write_nir stores r = tau/dt,
    so the scale is exactly 1 and the weights are untouched), firing ``'>='``, reset
    ``'subtract'`` in the same step (chipsim's and the OTTT paper's neuron). The metadata keys
    ``chipsim_reset``, ``chipsim_firing`` and ``chipsim_reset_at`` that write_nir puts on each
    neuron node override these three, so any chipsim network reads back bit for bit. Only this
    convention looks at metadata; the NIR spec says no reader should rely on it.

Approximations, stated: an ``LI`` / ``CubaLI`` read-out keeps its input scale (dt r/tau) but
drops its leak: chipsim's read-out is memoryless, o[t] = W s[t] + b, and its decision is the
argmax of o summed over the steps. That equals the LI membrane exactly when tau = dt (lam = 0);
otherwise the LI's v[t] = lam v[t-1] + o[t] weights late steps less than chipsim's sum does.
``CubaLIF`` becomes a CUBA neuron (``Neuron.tau_syn``): its synaptic current decays by
lam_syn = 1 - dt/tau_syn per step (snnTorch: the exporter's alpha, found back as beta is), the
input scale (dt/tau_syn) w_in dt r/tau_mem folded into the weights as above; a decay of 0
(|.| <= 1e-12) is no synaptic current. A ``CubaLI`` read-out is read only with decay 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from chipsim import memory_budget
from chipsim.errors import ConfigError, DataError
from chipsim.memory_budget import gib
from chipsim.mapping.network import (Conv2d, Dense, Flatten, Network, Neuron, Pool2d,
                                     tau_from_leak, with_recurrence)

SYNAPTIC_NODES = ("Affine", "Linear", "Conv2d")
SPIKING_NODES = ("LIF", "IF", "CubaLIF")
READOUT_NODES = ("LI", "CubaLI")
SHAPE_NODES = ("SumPool2d", "AvgPool2d", "Flatten")
SUPPORTED = ("Input, Output, Affine, Linear, Conv2d, SumPool2d, AvgPool2d, Flatten, LIF, IF, "
             "LI (read-out), CubaLIF and CubaLI (with tau_syn = dt)")
SYNAPSE_IDENTITY_TOLERANCE = 1e-12  # |1 - dt/tau_syn| below this: the synaptic filter is none
#: Parameters that should agree (snnTorch's r = tau/dt, tau_syn = dt) are compared to this many
#: units in the last place of their dtype: files ship float32 (snnTorch's exporter computes
#: tau = dt/(1 - beta) and r = tau/dt in float32, 2-3 roundings), some float64.
ULPS = 8


@dataclass(frozen=True)
class Convention:
    """How a NIR file's continuous-time neuron parameters become chipsim's discrete neuron."""

    name: str
    dt: float            # default time step when the caller gives none
    firing: str          # '>' or '>='
    reset: str           # 'zero' or 'subtract'
    reset_at: str        # 'same_step' or 'next_step'
    unit_input: bool     # the neuron adds its input unscaled (snnTorch); r = tau/dt is checked
    metadata: bool       # honour the chipsim_* neuron metadata written by write_nir


CONVENTIONS = {
    "nir": Convention("nir", 1.0, ">", "zero", "same_step", unit_input=False, metadata=False),
    "snntorch": Convention("snntorch", 1e-4, ">", "subtract", "next_step", unit_input=True,
                           metadata=False),
    "chipsim": Convention("chipsim", 1.0, ">=", "subtract", "same_step", unit_input=False,
                          metadata=True),
}
METADATA_CHOICES = {"chipsim_reset": ("reset", ("subtract", "zero")),
                    "chipsim_firing": ("firing", (">=", ">")),
                    "chipsim_reset_at": ("reset_at", ("same_step", "next_step"))}


def read_nir(path: str | Path, convention: str = "nir", dt: float | None = None) -> Network:
    """The Network in the NIR file ``path``, read with ``convention`` and time step ``dt``.

    ``dt`` (None: the convention's default, see the module docstring) is in the file's time
    unit. Raises DataError for an unreadable, damaged or unrepresentable file (naming the
    node), ConfigError for an unknown convention or a dt that is not a positive number.
    """
    if convention not in CONVENTIONS:
        raise ConfigError(f"network.nir.convention: unknown {convention!r}; valid: "
                          + ", ".join(repr(c) for c in CONVENTIONS))
    conv = CONVENTIONS[convention]
    path = Path(path)
    where = f"NIR file '{path}'"
    graph = _read_graph(path, where)
    if dt is None:
        dt = _metadata_dt(graph, where) if conv.metadata else None
        dt = conv.dt if dt is None else dt
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) \
            or dt <= 0:
        raise ConfigError(f"network.nir.dt: expected a positive number (the time step of the "
                          f"discretisation, in the file's time unit), got {dt!r}")
    graph = _inlined(graph)
    input_name, chain, recurrent = _chain(graph, where)
    shape = _shape(graph.nodes[input_name].input_type.get("input"), where,
                   f"Input node '{input_name}'")
    return _network(chain, shape, conv, float(dt), where, recurrent)


# ---- reading the file ----------------------------------------------------------------------

def _read_graph(path: Path, where: str):
    try:
        import nir
    except ImportError:
        raise DataError(f"{where}: reading NIR files needs the 'nir' package "
                        "(pip install nir)") from None
    if not path.is_file():
        raise DataError(f"{where} not found")
    _check_size(path, where)
    try:
        graph = nir.read(str(path), type_check=False)  # shapes are checked below, per node
    except Exception as exc:  # h5py, nir's asserts, KeyError, TypeError...: all mean damaged
        raise DataError(f"{where} is not a readable NIR graph: {type(exc).__name__}: "
                        f"{_short(exc)} (expected an HDF5 file written by nir.write)") from None
    if not isinstance(graph, nir.NIRGraph):
        raise DataError(f"{where} holds a single {type(graph).__name__} node, not a NIRGraph")
    return graph


def _check_size(path: Path, where: str) -> None:
    """Refuse files whose arrays would not fit in memory, before nir.read allocates them
    (twice: nir.read's arrays and chipsim's float64 copies)."""
    import h5py

    sizes = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            sizes.append((int(np.prod(obj.shape, dtype=np.float64) * obj.dtype.itemsize), name))

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception as exc:
        raise DataError(f"{where} is not a readable NIR graph: {type(exc).__name__}: "
                        f"{_short(exc)} (expected an HDF5 file written by nir.write)") from None
    total = sum(s for s, _ in sizes)
    have, limit = memory_budget.available_bytes()
    if total > have // 2:
        biggest = max(sizes)[1]
        raise DataError(f"{where}: its arrays hold {total / 2**30:,.1f} GiB (largest: "
                        f"'{biggest}'), more than half of the {gib(have)} left under {limit}")


def _short(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _metadata_dt(graph, where: str):
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if "dt" not in meta:
        return None
    try:
        return float(np.asarray(meta["dt"]).reshape(()))
    except (TypeError, ValueError):
        raise DataError(f"{where}: graph metadata 'dt' is {meta['dt']!r}, not a number") from None


def _kind(node) -> str:
    return type(node).__name__


def _inlined(graph):
    """The graph with every nested NIRGraph node replaced by its nodes (named
    '<node>.<inner>'): edges into it go to what its Input feeds, edges out of it leave from
    what feeds its Output."""
    import nir

    nested = {n: g for n, g in graph.nodes.items() if isinstance(g, nir.NIRGraph)}
    if not nested:
        return graph
    nodes = {n: v for n, v in graph.nodes.items() if n not in nested}
    entry, leave, edges = {}, {}, []
    for name, sub in nested.items():
        sub = _inlined(sub)
        ins = [n for n, v in sub.nodes.items() if isinstance(v, nir.Input)]
        outs = [n for n, v in sub.nodes.items() if isinstance(v, nir.Output)]
        nodes.update({f"{name}.{n}": v for n, v in sub.nodes.items() if n not in ins + outs})
        entry[name] = [f"{name}.{b}" for a, b in sub.edges if a in ins]
        leave[name] = [f"{name}.{a}" for a, b in sub.edges if b in outs]
        edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in sub.edges
                  if a not in ins and b not in outs]
    for a, b in graph.edges:
        edges += [(x, y) for x in leave.get(a, [a]) for y in entry.get(b, [b])]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _recurrences(nodes, succ, pred) -> dict:
    """{neuron node: (name, node) of the synaptic node that returns its spikes to it}: a
    synaptic node fed only by one spiking node and feeding only that node."""
    out = {}
    for name, node in nodes.items():
        if _kind(node) in SYNAPTIC_NODES and len(pred[name]) == 1 and succ[name] == pred[name]:
            neuron = pred[name][0]
            if _kind(nodes[neuron]) in SPIKING_NODES:
                out[neuron] = (name, node)
    return out


def _chain(graph, where: str) -> tuple[str, list[tuple[str, object]], dict]:
    """(input node name, [(name, node), ...] strictly between Input and Output, recurrences
    (see ``_recurrences``))."""
    import nir

    nodes, edges = graph.nodes, graph.edges
    if not isinstance(nodes, dict) or not nodes:
        raise DataError(f"{where}: the graph has no nodes")
    inputs = sorted(n for n, node in nodes.items() if isinstance(node, nir.Input))
    outputs = sorted(n for n, node in nodes.items() if isinstance(node, nir.Output))
    for what, found in (("Input", inputs), ("Output", outputs)):
        if len(found) != 1:
            raise DataError(f"{where}: the graph has {len(found)} {what} nodes"
                            + (f" ({', '.join(found)})" if found else "")
                            + f"; chipsim reads a chain with exactly one {what} node")
    succ = {n: [] for n in nodes}
    pred = {n: [] for n in nodes}
    for edge in edges:
        if len(edge) != 2 or any(e not in nodes for e in edge):
            raise DataError(f"{where}: edge {tuple(edge)!r} names a node that is not in the "
                            f"graph (nodes: {', '.join(sorted(nodes))})")
        a, b = edge
        succ[a].append(b)
        pred[b].append(a)
    recurrent = _recurrences(nodes, succ, pred)
    for neuron, (name, _) in recurrent.items():  # the loop is the layer's, not the chain's
        succ[neuron].remove(name)
        pred[neuron].remove(name)
        succ[name], pred[name] = [], []
    start, stop = inputs[0], outputs[0]
    if pred[start]:
        raise DataError(f"{where}: the Input node '{start}' receives edges from "
                        f"{', '.join(pred[start])}; chipsim reads a feed-forward chain")
    chain, visited, current = [], {start}, start
    while current != stop:
        nxt = succ[current]
        if not nxt:
            raise DataError(f"{where}: node '{current}' ({_kind(nodes[current])}) has no "
                            f"outgoing edge, so the path from Input '{start}' never reaches "
                            f"Output '{stop}'")
        if len(nxt) > 1:
            raise DataError(f"{where}: node '{current}' ({_kind(nodes[current])}) branches to "
                            f"{', '.join(repr(n) for n in nxt)}; chipsim reads a chain (one "
                            "path from Input to Output, each node feeding exactly one other)")
        current = nxt[0]
        if current in visited:
            raise DataError(f"{where}: node '{current}' ({_kind(nodes[current])}) closes a "
                            "cycle (a recurrent connection); chipsim reads feed-forward chains")
        if len(pred[current]) > 1:
            raise DataError(f"{where}: node '{current}' ({_kind(nodes[current])}) receives "
                            f"edges from {', '.join(repr(n) for n in pred[current])} (a merge "
                            "or a recurrent connection); chipsim reads a chain, each node fed "
                            "by exactly one other")
        visited.add(current)
        if current != stop:
            chain.append((current, nodes[current]))
    if succ[stop]:
        raise DataError(f"{where}: the Output node '{stop}' feeds {', '.join(succ[stop])}; "
                        "an Output node must end the chain")
    stray = sorted(set(nodes) - visited - {name for name, _ in recurrent.values()})
    if stray:
        raise DataError(f"{where}: nodes {', '.join(repr(n) for n in stray)} are not on the path "
                        f"from Input '{start}' to Output '{stop}'; chipsim reads a single chain")
    return start, chain, recurrent


def _shape(value, where: str, what: str) -> tuple[int, ...]:
    try:
        arr = np.asarray(value).reshape(-1)
        shape = tuple(int(v) for v in arr)
        ok = arr.size >= 1 and all(v >= 1 and v == a for v, a in zip(shape, arr))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"{where}: {what} has shape {value!r}; expected a list of positive "
                        "integers such as [64] or [1, 28, 28]")
    return shape


# ---- building the network -----------------------------------------------------------------

def _network(chain, shape, conv: Convention, dt: float, where: str,
             recurrent: dict | None = None) -> Network:
    layers, weights, biases = [], {}, {}
    pending = None  # (name, node, layer kwargs) of a synaptic node waiting for its neuron
    n_inputs = math.prod(shape)
    for i, (name, node) in enumerate(chain):
        kind = _kind(node)
        at = f"{where}: node '{name}' ({kind})"
        if kind in SYNAPTIC_NODES:
            if pending is not None:
                raise DataError(f"{where}: synaptic node '{pending[0]}' ({_kind(pending[1])}) "
                                f"feeds synaptic node '{name}' ({kind}) directly; chipsim needs "
                                "a neuron node (LIF, IF, CubaLIF) after every synaptic node but "
                                "the read-out")
            pending = (name, node) + _synapse(node, shape, at)
            shape = pending[5]
        elif kind in SPIKING_NODES + READOUT_NODES:
            if pending is None:
                raise DataError(f"{at} is not preceded by a synaptic node (Affine, Linear, "
                                "Conv2d); each chipsim layer is a synaptic node followed by "
                                "its neurons")
            readout = kind in READOUT_NODES
            if readout and i != len(chain) - 1:
                raise DataError(f"{at} is a non-spiking read-out and must be the last node "
                                f"before Output, but it feeds '{chain[i + 1][0]}'")
            neuron, scale = _neuron(node, pending[5], conv, dt, at)
            loop = (recurrent or {}).get(name)
            if loop is not None:
                loop = _recurrent_synapse(loop, pending, f"{where}: node '{loop[0]}'", at)
            layers.append(_layer(pending, not readout, None if readout else neuron,
                                 scale, weights, biases, loop))
            pending = None
        elif kind in SHAPE_NODES:
            if pending is not None:
                raise DataError(f"{where}: synaptic node '{pending[0]}' feeds {kind} '{name}' "
                                "directly; chipsim needs a neuron node (LIF, IF, CubaLIF) after "
                                "every synaptic node but the read-out")
            layer = _reshape(name, node, shape, at)
            shape = layer.out_shape if kind != "Flatten" else (layer.n_in,)
            layers.append(layer)
        else:
            raise DataError(f"{at}: chipsim does not read {kind} nodes"
                            + (" (a nested graph, as snnTorch writes recurrent layers)"
                               if kind == "NIRGraph" else "")
                            + f"; it reads {SUPPORTED}")
    if pending is not None:  # a synaptic node straight into Output: the read-out
        layers.append(_layer(pending, False, None, 1.0, weights, biases))
    if not any(layer.kind in ("dense", "conv2d") for layer in layers):
        raise DataError(f"{where}: the chain has no synaptic node (Affine, Linear, Conv2d)")
    if layers[-1].kind not in ("dense", "conv2d"):
        raise DataError(f"{where}: the chain ends with {layers[-1].kind} '{layers[-1].name}'; "
                        "the last layer must be a synaptic node (with or without neurons)")
    if layers[-1].recurrent:
        raise DataError(f"{where}: the output layer '{layers[-1].name}' is recurrent; chipsim's "
                        "recurrent layers are hidden layers")
    spiking = [l.neuron for l in layers if l.kind in ("dense", "conv2d") and l.spiking]
    default = spiking[0] if spiking else Neuron()
    layers = [_without_default(l, default) for l in layers]
    return Network(n_inputs, tuple(layers), default, weights, biases)


def _without_default(layer, default: Neuron):
    """The layer with neuron None when it is the network's default (as config-built nets)."""
    if layer.kind in ("dense", "conv2d") and layer.neuron == default:
        return replace(layer, neuron=None)
    return layer


def _array(node, field: str, at: str) -> np.ndarray:
    value = getattr(node, field, None)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{at}: {field} is not numeric ({type(value).__name__})") from None
    if arr.size == 0:
        raise DataError(f"{at}: {field} is empty")
    if np.isnan(arr).any():
        raise DataError(f"{at}: {field} holds NaN")
    return arr


def _synapse(node, shape, at: str):
    """(layer kwargs, weight, bias or None, out shape) of a synaptic node."""
    kind = _kind(node)
    w = _array(node, "weight", at)
    if not np.all(np.isfinite(w)):
        raise DataError(f"{at}: weight holds inf")
    if kind in ("Affine", "Linear"):
        if w.ndim != 2:
            raise DataError(f"{at}: weight has shape {w.shape}; expected (out, in)")
        n_out, n_in = w.shape
        if math.prod(shape) != n_in:
            raise DataError(f"{at}: weight (out, in) = {w.shape} takes {n_in} inputs, but the "
                            f"activity arriving has shape {list(shape)} ({math.prod(shape)} "
                            "values)")
        bias = _bias(node, (n_out,), at) if kind == "Affine" else None
        return dict(kind="dense", n_in=n_in, n_out=n_out), w, bias, (n_out,)
    # Conv2d
    if w.ndim != 4:
        raise DataError(f"{at}: weight has shape {w.shape}; expected (out_channels, "
                        "in_channels, kh, kw)")
    if len(shape) == 2 and w.shape[1] == 1:
        shape = (1, *shape)  # an (H, W) input is one channel
    if len(shape) != 3 or shape[0] != w.shape[1]:
        raise DataError(f"{at}: weight {w.shape} takes {w.shape[1]} input channels, the "
                        f"activity arriving has shape {list(shape)}; expected (C, H, W) with "
                        f"C = {w.shape[1]}")
    groups = np.asarray(getattr(node, "groups", 1)).reshape(-1)
    if groups.size != 1 or int(groups[0]) != 1:
        raise DataError(f"{at}: groups = {groups.tolist()}; chipsim's Conv2d has groups 1 only")
    if _pair(getattr(node, "dilation", 1), at, "dilation") != (1, 1):
        raise DataError(f"{at}: dilation = {node.dilation!r}; chipsim's Conv2d has dilation 1 "
                        "only")
    kernel = (int(w.shape[2]), int(w.shape[3]))
    stride = _pair(getattr(node, "stride", 1), at, "stride")
    padding = _padding(getattr(node, "padding", 0), kernel, stride, at)
    given = getattr(node, "input_shape", None)
    if given is not None and tuple(np.asarray(given).reshape(-1).tolist()) != tuple(shape[1:]):
        raise DataError(f"{at}: input_shape = {np.asarray(given).tolist()} but the activity "
                        f"arriving has (H, W) = {list(shape[1:])}")
    layer = Conv2d("?", tuple(shape), int(w.shape[0]), kernel, stride, padding)
    if min(layer.out_shape) < 1:
        raise DataError(f"{at}: a {kernel} kernel with stride {stride} and padding {padding} "
                        f"leaves no output on a {list(shape)} input")
    bias = _bias(node, (int(w.shape[0]),), at)
    return (dict(kind="conv2d", in_shape=tuple(shape), out_channels=int(w.shape[0]),
                 kernel=kernel, stride=stride, padding=padding), w, bias, layer.out_shape)


def _bias(node, shape, at):
    b = _array(node, "bias", at)
    if b.size == 1 and shape[0] != 1:
        b = np.full(shape, float(b.reshape(-1)[0]))
    if b.shape != shape:
        raise DataError(f"{at}: bias has shape {b.shape}; expected {shape}")
    if not np.all(np.isfinite(b)):
        raise DataError(f"{at}: bias holds inf")
    return None if not np.any(b) else b  # a zero bias is no bias (adding 0.0 changes nothing)


def _pair(value, at: str, what: str) -> tuple[int, int]:
    try:
        arr = np.asarray(value).reshape(-1)
        vals = [int(v) for v in arr]
        ok = arr.size in (1, 2) and all(v == a and v >= 0 for v, a in zip(vals, arr))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"{at}: {what} = {value!r}; expected a non-negative integer or a pair "
                        "of them")
    return (vals[0], vals[-1])


def _padding(value, kernel, stride, at) -> tuple[int, int]:
    if isinstance(value, bytes):
        value = value.decode("utf8", "replace")
    if isinstance(value, str):
        if value == "valid":
            return (0, 0)
        if value == "same":
            if stride != (1, 1) or kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
                raise DataError(f"{at}: padding 'same' with kernel {kernel} and stride {stride} "
                                "needs uneven padding; chipsim pads symmetrically (use an odd "
                                "kernel with stride 1, or integer padding)")
            return ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
        raise DataError(f"{at}: padding = {value!r}; expected integers, 'same' or 'valid'")
    return _pair(value, at, "padding")


def _reshape(name, node, shape, at):
    kind = _kind(node)
    if kind == "Flatten":
        given = (node.input_type or {}).get("input") if isinstance(node.input_type, dict) else None
        if given is not None and math.prod(_shape(given, at, "input_type")) != math.prod(shape):
            raise DataError(f"{at}: input_type {np.asarray(given).tolist()} does not match the "
                            f"activity arriving, shape {list(shape)}")
        return Flatten(name, tuple(shape))
    if len(shape) != 3:
        raise DataError(f"{at}: pooling needs (C, H, W) activity, got shape {list(shape)}")
    kernel = _pair(node.kernel_size, at, "kernel_size")
    stride = _pair(node.stride, at, "stride")
    padding = _pair(node.padding, at, "padding")
    if min(kernel) < 1 or min(stride) < 1:
        raise DataError(f"{at}: kernel_size {kernel} and stride {stride} must be >= 1")
    layer = Pool2d(name, tuple(shape), kernel, stride, "sum" if kind == "SumPool2d" else "avg",
                   padding)
    if min(layer.out_shape) < 1:
        raise DataError(f"{at}: kernel {kernel}, stride {stride}, padding {padding} leave no "
                        f"output on a {list(shape)} input")
    return layer


def _recurrent_synapse(loop, pending, at: str, neuron_at: str):
    """(W_rec, its bias or None) of the synaptic node ``loop`` returning a layer's spikes."""
    name, node = loop
    if pending[2]["kind"] != "dense":
        raise DataError(f"{neuron_at} returns its spikes through '{name}', but its layer is "
                        f"{pending[2]['kind']}; chipsim's recurrent layers are dense")
    n = pending[2]["n_out"]
    kw, w_rec, bias, _ = _synapse(node, (n,), at)
    if kw["kind"] != "dense" or w_rec.shape != (n, n):
        raise DataError(f"{at}: a recurrent weight must be ({n}, {n}), got {w_rec.shape}")
    return w_rec, bias


def _layer(pending, spiking, neuron, scale, weights, biases, loop=None):
    name, node, kw, w, bias, out_shape = pending
    if loop is not None:
        w, bias = with_recurrence(w, bias, *loop)
    if scale != 1.0:  # fold the neuron's input scale into the synapses (exact when 1)
        w = w * scale
        bias = None if bias is None else bias * scale
    weights[name] = w
    if bias is not None:
        biases[name] = bias
    kw = dict(kw)
    if kw.pop("kind") == "dense":
        return Dense(name, kw["n_in"], kw["n_out"], spiking, neuron, loop is not None)
    return Conv2d(name, **kw, spiking=spiking, neuron=neuron)


# ---- neurons --------------------------------------------------------------------------------

def _uniform(node, field: str, n_out: int, channels: int | None, at: str) -> float:
    """The one value of a per-neuron parameter; DataError if it varies within the layer."""
    arr = _array(node, field, at)
    if arr.size not in (1, n_out) and arr.size != channels:
        raise DataError(f"{at}: {field} has {arr.size} values, the layer has {n_out} neurons")
    lo, hi = float(arr.min()), float(arr.max())
    if lo != hi:
        raise DataError(f"{at}: {field} differs across the layer's neurons (from {lo!r} to "
                        f"{hi!r}, {np.unique(arr).size} distinct values); chipsim's neuron "
                        "parameters are per layer, so they must be uniform within a layer")
    return lo


def _tolerance(node, fields) -> tuple[float, str]:
    """(relative tolerance, its description) for comparing ``fields`` of ``node``: ULPS units
    in the last place of the coarsest float dtype among them (integers count as float64)."""
    dtypes = [np.asarray(getattr(node, f, 0.0)).dtype for f in fields]
    dtypes = [d if np.issubdtype(d, np.floating) else np.dtype(np.float64) for d in dtypes]
    coarse = max(dtypes, key=lambda d: np.finfo(d).eps)
    tol = ULPS * float(np.finfo(coarse).eps)
    return tol, f"{ULPS} {coarse.name} ulps, relative {tol:.2g}"


def _neuron(node, out_shape, conv: Convention, dt: float, at: str) -> tuple[Neuron, float]:
    """(chipsim Neuron, input scale to fold into the preceding weights) for a neuron node."""
    kind = _kind(node)
    n_out = math.prod(out_shape)
    channels = out_shape[0] if len(out_shape) == 3 else None
    get = lambda field: _uniform(node, field, n_out, channels, at)  # noqa: E731
    fields = (("r",) if kind == "IF" else ("r", "tau_mem" if kind.startswith("Cuba") else "tau")
              ) + (("tau_syn", "w_in") if kind.startswith("Cuba") else ())
    tol, tol_text = _tolerance(node, fields)
    r = get("r")
    if kind == "IF":
        tau = math.inf
        spec_scale = dt * r
    else:
        tau = get("tau_mem" if kind.startswith("Cuba") else "tau")
        if not tau > 0:
            raise DataError(f"{at}: tau = {tau!r}; a time constant must be positive")
        spec_scale = dt * r / tau if math.isfinite(tau) else (math.inf if r == math.inf else 0.0)
        v_leak = get("v_leak")
        if v_leak != 0.0:
            raise DataError(f"{at}: v_leak = {v_leak!r}; chipsim's neurons rest at 0, so v_leak "
                            "must be 0")
    tau_syn_steps = 1.0  # no synaptic current
    if kind.startswith("Cuba"):
        tau_syn, w_in = get("tau_syn"), get("w_in")
        alpha = 1.0 - dt / tau_syn if tau_syn > 0 else math.nan
        identity = abs(alpha) <= max(SYNAPSE_IDENTITY_TOLERANCE, tol)
        if not identity and not 0.0 <= alpha < 1.0:
            raise DataError(f"{at}: tau_syn = {tau_syn!r} with dt = {dt!r} gives a synaptic "
                            f"decay 1 - dt/tau_syn = {alpha!r} per step; it must be in [0, 1) "
                            "(tau_syn >= dt)")
        if not identity and kind in READOUT_NODES:
            raise DataError(f"{at}: a CubaLI read-out with tau_syn = {tau_syn!r} > dt = "
                            f"{dt!r}; chipsim's read-out is memoryless, so only tau_syn = dt "
                            f"(decay 0 to {tol_text}) is representable")
        if not identity:
            tau_syn_steps = _steps(node.tau_syn, tau_syn, dt, conv.name == "snntorch")
        spec_scale *= (dt / tau_syn) * w_in
    if dt > tau:
        raise DataError(f"{at}: dt = {dt!r} exceeds tau = {tau!r}, so forward Euler's leak "
                        f"1 - dt/tau = {1 - dt / tau!r} is negative; use a smaller dt "
                        "(network.nir.dt)")
    if conv.unit_input:
        if math.isfinite(spec_scale) and spec_scale != 0.0 \
                and abs(spec_scale - 1.0) > tol:
            raise DataError(f"{at}: r = {r!r}, but snnTorch's exporter writes r = tau/dt "
                            f"(expected {tau / dt if math.isfinite(tau) else 1 / dt!r} with dt "
                            f"= {dt!r}, to {tol_text}) so that its neurons add their input "
                            f"unscaled; the input scale dt r/tau here is {spec_scale!r}. Read "
                            "the file with convention 'nir', or give the dt it was exported "
                            "with (network.nir.dt)")
        scale = 1.0
    else:
        scale = spec_scale
        if not (math.isfinite(scale) and scale > 0):
            raise DataError(f"{at}: the input scale dt r/tau = {scale!r} (r = {r!r}, tau = "
                            f"{tau!r}, dt = {dt!r}) must be a positive number")
    if kind in READOUT_NODES:
        return Neuron(), scale
    threshold = get("v_threshold")
    if not (math.isfinite(threshold) and threshold > 0):
        raise DataError(f"{at}: v_threshold = {threshold!r}; chipsim needs a positive, finite "
                        "threshold")
    v_reset = get("v_reset")
    if v_reset != 0.0:
        raise DataError(f"{at}: v_reset = {v_reset!r}; chipsim resets to 0 ('zero') or "
                        "subtracts the threshold ('subtract'), so v_reset must be 0")
    options = {"reset": conv.reset, "firing": conv.firing, "reset_at": conv.reset_at}
    if conv.metadata:
        meta = node.metadata if isinstance(node.metadata, dict) else {}
        for key, (option, valid) in METADATA_CHOICES.items():
            if key in meta:
                value = meta[key].decode() if isinstance(meta[key], bytes) else meta[key]
                if value not in valid:
                    raise DataError(f"{at}: metadata {key} = {value!r}; expected one of "
                                    f"{', '.join(repr(v) for v in valid)}")
                options[option] = value
    tau_steps = _steps(getattr(node, "tau_mem" if kind == "CubaLIF" else "tau", None), tau, dt,
                       conv.name == "snntorch" and kind in ("LIF", "CubaLIF"))  # (IF: no tau)
    return Neuron(tau_steps, threshold, tau_syn=tau_syn_steps, **options), scale


def _steps(stored_tau, tau: float, dt: float, exported: bool) -> float:
    """A time constant in steps: the exporter's leak found back (``exported``: a file from
    snnTorch's exporter, see ``_exported_leak``), else forward Euler's (``_tau_steps``)."""
    leak = _exported_leak(stored_tau, tau, dt) if exported else None
    return _tau_steps(tau, dt) if leak is None else tau_from_leak(leak)


def _exported_leak(stored_tau, tau: float, dt: float) -> float | None:
    """The beta (or a Synaptic's alpha) snnTorch's exporter started from, or None when no
    value reproduces the file (``stored_tau``: the node's tau field, for its dtype).

    The exporter writes tau = dt / (1 - beta) computed in beta's dtype (float32 for a float32
    model), so 1 - dt/tau misses beta by a rounding (3e-9 for beta = 0.95 in float32) and the
    leak would differ from snnTorch's. The values of that dtype within 4 ulps of 1 - dt/tau are
    put through the exporter's formula; those giving the file's tau back are beta's possible
    values, and the one nearest 1 - dt/tau is taken. None (the file's tau is not such an export,
    or dt differs from the exporter's) keeps forward Euler's 1 - dt/tau."""
    dtype = np.asarray(stored_tau).dtype
    if not (np.issubdtype(dtype, np.floating) and math.isfinite(tau)):
        return None
    target = 1.0 - dt / tau
    guess = np.array([target], dtype=dtype)
    candidates, up, down = [guess], guess, guess
    for _ in range(4):
        up, down = np.nextafter(up, dtype.type(2)), np.nextafter(down, dtype.type(-1))
        candidates += [up, down]
    stored = dtype.type(tau)
    exact = [float(b[0]) for b in candidates if (dt / (1 - b))[0] == stored]  # the exporter's
    return min(exact, key=lambda b: abs(b - target)) if exact else None


def _tau_steps(tau: float, dt: float) -> float:
    """tau in steps such that chipsim's leak 1 - 1/tau_steps is forward Euler's 1 - dt/tau.

    tau/dt alone can miss by an ulp, so its neighbours within 4 ulps are tried and the one
    whose leak is nearest wins (exact when any is: not every float64 leak is 1 - 1/x for a
    float64 x, most of those misses are leaks below 0.5; the miss is then at most 2.2e-16)."""
    if not math.isfinite(tau):
        return math.inf
    target = 1.0 - dt / tau
    candidates, up, down = [tau / dt], tau / dt, tau / dt
    for _ in range(4):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, 0.0)
        candidates += [up, down]
    return min(candidates, key=lambda c: abs((1.0 - 1.0 / c) - target))
