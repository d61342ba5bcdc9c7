"""Write a chipsim ``Network`` as a NIR graph (``.nir``, HDF5), in the 'chipsim' convention.

The graph is a chain ``Input -> [synaptic -> neuron]... -> synaptic -> Output``:

- a Dense layer is a ``Linear`` node (an ``Affine`` node when it has a bias), weight (out, in);
  a Conv2d layer a ``Conv2d`` node (groups 1, dilation 1; bias per output channel, zeros when
  the layer has none); Pool2d is ``SumPool2d`` / ``AvgPool2d``; Flatten is ``Flatten``;
- a spiking layer's neurons follow its synaptic node as a ``LIF`` node (``<layer>_lif``) with
  tau = tau_steps dt, r = tau/dt (so the spec's forward-Euler input scale dt r/tau is exactly
  1), v_leak = 0, v_threshold = threshold, v_reset = 0; an IF layer (tau = inf) as an ``IF``
  node with r = 1/dt. The node's metadata records chipsim's reset ('subtract' or 'zero'),
  firing ('>=' or '>') and reset timing ('same_step' or 'next_step'), which NIR's nodes cannot
  express (NIR resets to v_reset and fires on v > threshold);
- the read-out (spiking=False) is its synaptic node straight into ``Output``: chipsim's
  read-out o[t] = W s[t] + b is exactly that node's output, where an ``LI`` node would add a
  leak chipsim does not have.

``chipsim.mapping.from_nir.read_nir(path, convention='chipsim')`` reads the file back to the
same network bit for bit in float64 (same weights, same tau when dt is a power of two, such as
the default 1.0). Read by the spec alone (convention 'nir'), the same file gives the same
weights, leak and threshold, but the spec's reset (to v_reset = 0) and its firing on
v > threshold, not chipsim's subtraction and u >= threshold.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from chipsim.errors import DataError
from chipsim.mapping.network import Network
from chipsim.report.writer import atomic_write_bytes


def write_nir(network: Network, path: str | Path, dt: float = 1.0) -> None:
    """Write ``network`` to ``path`` as a NIR graph (atomically: temp file, fsync, rename).

    ``dt`` is the time step the file's time constants are expressed in (tau = tau_steps dt).
    Raises DataError when the network cannot be expressed (e.g. a per-neuron conv bias)."""
    try:
        import nir
    except ImportError:
        raise DataError("writing NIR files needs the 'nir' package (pip install nir)") from None
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) \
            or dt <= 0:
        raise DataError(f"write_nir: dt must be a positive number, got {dt!r}")
    dt = float(dt)
    names = set(network.names)
    input_name, output_name = _free("input", names), _free("output", names)
    first = network.layers[0]
    in_shape = tuple(first.in_shape) if hasattr(first, "in_shape") else (network.n_inputs,)
    nodes = {input_name: nir.Input(input_type={"input": np.array(in_shape)})}
    chain = [input_name]
    for i, layer in enumerate(network.layers):
        if layer.recurrent:
            raise DataError(f"write_nir: layer '{layer.name}' is recurrent; chipsim does not "
                            "write recurrent NIR graphs yet")
        if layer.kind in ("dense", "conv2d") and not layer.spiking and i != len(network.layers) - 1:
            raise DataError(f"write_nir: layer '{layer.name}' is a read-out (spiking=False) but "
                            "not the last layer; only the last layer can be the read-out")
        nodes[layer.name] = _node(nir, network, layer)
        chain.append(layer.name)
        if layer.kind in ("dense", "conv2d") and layer.spiking:
            suffix = "if" if math.isinf(network.neuron_of(layer).tau) else "lif"
            name = _free(f"{layer.name}_{suffix}", names | set(nodes))
            nodes[name] = _neuron_node(nir, network, layer, dt)
            chain.append(name)
    last = network.layers[-1]
    out_shape = tuple(last.out_shape) if hasattr(last, "out_shape") else (last.n_out,)
    nodes[output_name] = nir.Output(output_type={"output": np.array(out_shape)})
    chain.append(output_name)
    edges = list(zip(chain[:-1], chain[1:]))
    metadata = {"writer": "chipsim", "convention": "chipsim", "dt": dt}
    try:
        graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)
        buf = io.BytesIO()
        nir.write(buf, graph)
    except (ValueError, TypeError, AssertionError) as exc:
        raise DataError(f"write_nir: the network does not form a valid NIR graph: {exc}") from None
    atomic_write_bytes(path, buf.getvalue())


def _free(name: str, taken: set) -> str:
    candidate, i = name, 1
    while candidate in taken:
        candidate, i = f"{name}_{i}", i + 1
    return candidate


def _node(nir, network: Network, layer):
    kind = layer.kind
    if kind == "dense":
        w = np.asarray(network.weights[layer.name], dtype=np.float64)
        if w.shape != (layer.n_out, layer.n_in):
            raise DataError(f"write_nir: weights of '{layer.name}' have shape {w.shape}, the "
                            f"layer needs {(layer.n_out, layer.n_in)}")
        b = network.biases.get(layer.name)
        if b is None:
            return nir.Linear(weight=w.copy())
        return nir.Affine(weight=w.copy(), bias=np.asarray(b, dtype=np.float64).copy())
    if kind == "conv2d":
        w = np.asarray(network.weights[layer.name], dtype=np.float64)
        if w.shape != layer.weight_shape:
            raise DataError(f"write_nir: weights of '{layer.name}' have shape {w.shape}, the "
                            f"layer needs {layer.weight_shape}")
        return nir.Conv2d(input_shape=tuple(layer.in_shape[1:]), weight=w.copy(),
                          stride=tuple(layer.stride), padding=tuple(layer.padding),
                          dilation=(1, 1), groups=1, bias=_conv_bias(network, layer))
    if kind == "pool2d":
        cls = nir.SumPool2d if layer.mode == "sum" else nir.AvgPool2d
        return cls(kernel_size=np.array(layer.kernel), stride=np.array(layer.stride),
                   padding=np.array(layer.padding))
    if kind == "flatten":
        return nir.Flatten(input_type={"input": np.array(layer.in_shape)}, start_dim=0,
                           end_dim=-1)
    raise DataError(f"write_nir: layer '{layer.name}' has kind {kind!r}, which has no NIR node")


def _conv_bias(network: Network, layer) -> np.ndarray:
    """Per output channel (out_channels,); a per-neuron bias constant over each channel too."""
    channels = layer.out_channels
    b = network.biases.get(layer.name)
    if b is None:
        return np.zeros(channels)
    b = np.asarray(b, dtype=np.float64)
    if b.shape == (channels,):
        return b.copy()
    if b.size == layer.n_out:
        per_channel = b.reshape(channels, -1)
        if np.all(per_channel == per_channel[:, :1]):
            return per_channel[:, 0].copy()
    raise DataError(f"write_nir: the bias of conv layer '{layer.name}' has shape {b.shape} and "
                    "varies within a channel; NIR's Conv2d has one bias per output channel")


def _neuron_node(nir, network: Network, layer, dt: float):
    nrn = network.neuron_of(layer)
    shape = tuple(layer.out_shape) if layer.kind == "conv2d" else (layer.n_out,)
    full = lambda value: np.full(shape, float(value))  # noqa: E731
    metadata = {"chipsim_reset": nrn.reset, "chipsim_firing": nrn.firing,
                "chipsim_reset_at": nrn.reset_at}
    if nrn.tau_syn > 1.0:  # CUBA: w_in = tau_syn/dt makes its input scale dt/tau_syn w_in 1
        if math.isinf(nrn.tau):
            raise DataError(f"write_nir: layer '{layer.name}' is an IF neuron with a synaptic "
                            "current; NIR's CubaLIF has a finite tau_mem")
        return nir.CubaLIF(tau_syn=full(nrn.tau_syn * dt), tau_mem=full(nrn.tau * dt),
                           r=full(nrn.tau), v_leak=full(0.0), v_threshold=full(nrn.threshold),
                           v_reset=full(0.0), w_in=full(nrn.tau_syn), metadata=metadata)
    if math.isinf(nrn.tau):
        return nir.IF(r=full(1.0 / dt), v_threshold=full(nrn.threshold), v_reset=full(0.0),
                      metadata=metadata)
    # tau in the file's time unit; r = tau/dt makes the spec's input scale dt r/tau exactly 1
    return nir.LIF(tau=full(nrn.tau * dt), r=full(nrn.tau), v_leak=full(0.0),
                   v_threshold=full(nrn.threshold), v_reset=full(0.0), metadata=metadata)
