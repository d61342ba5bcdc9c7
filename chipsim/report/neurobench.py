"""NeuroBench's metrics of a chip's test pass, from its counters (report.json ``neurobench``).

Definitions as neurobench 2.3.0 implements them (Yik et al., "The neurobench framework for
benchmarking neuromorphic computing algorithms and systems", Nature Communications 16, 2025),
per test sample:

footprint_bytes          the parameters in bytes at their storage type: a layer's weights in the
                         narrowest machine integer of its weight width (NeuroBench: each tensor's
                         dtype, zero weights included), plus biases in theirs; NeuroBench also adds
                         a torch model's buffers (snnTorch's beta, threshold, state)
connection_sparsity      weights that are exactly zero / all weights (biases excluded)
activation_sparsity      1 - spikes / (spiking neurons x steps), over the spiking layers (a read-out
                         layer has no spikes; NeuroBench likewise hooks only activations)
effective_acs / _macs    synapses with a nonzero weight reached by a nonzero input, summed over
                         steps and layers: MACs for a graded input (the first layer's, unless the
                         inputs are binary spikes), ACs for spikes. NeuroBench decides per batch
                         from the values (any value outside {-1, 0, 1} makes it MACs); the chip
                         from the input format.
dense_synaptic_ops       every synapse of every layer, every step (T x the layers' in x out; a
                         conv layer: the taps that land on its map x in x out channels)
membrane_updates         spiking neurons whose membrane u differs from the step before, every one at
                         a sample's first step (NeuroBench compares snnTorch's mem before the reset)
classification_accuracy  the test accuracy (fraction)
"""
from __future__ import annotations

import numpy as np

from chipsim.chip import counters as ev
from chipsim.chip.arrays import storage_dtype

SOURCE = "neurobench 2.3.0 definitions (Yik et al., Nature Communications 16, 2025)"


def dense_ops_per_step(m, l: int) -> int:
    """Synapses of layer l that a fully active input reaches in one step: in x out (dense);
    a conv layer: in x out channels x the (output, tap) pairs inside the input map (padding
    reaches nothing)."""
    if not m.conv[l]:
        return int(m.n_in[l]) * int(m.row_len[l])
    pool = int(m.pool[l])
    h, w = int(m.pre_h[l]) // pool, int(m.pre_w[l]) // pool

    def landing(size, out, kernel, stride, pad):
        return sum(0 <= o * stride - pad + k < size for o in range(out) for k in range(kernel))
    taps = (landing(h, int(m.out_h[l]), int(m.kernel_h[l]), int(m.stride_h[l]), int(m.pad_h[l]))
            * landing(w, int(m.out_w[l]), int(m.kernel_w[l]), int(m.stride_w[l]),
                      int(m.pad_w[l])))
    return int(m.pre_c[l]) * int(m.out_c[l]) * taps


def neurobench_metrics(chip, counts: np.ndarray, samples: int, steps: int,
                       accuracy: float) -> dict:
    """The metrics per test sample from the chip's inference counts (layers, events) of a
    pass over ``samples`` samples of ``steps`` steps."""
    m, layers = chip.memories, chip.formats.layers
    weights = chip.weight_ints()
    biases = chip.bias_ints()
    footprint = sum(w.size * np.dtype(storage_dtype(lf.weight.bits)).itemsize
                    for w, lf in zip(weights, layers))
    bias_format = {name: lf.bias for name, lf in zip(chip.names, layers)}
    footprint += sum(b.size * np.dtype(storage_dtype(bias_format[name].bits)).itemsize
                     for name, b in biases.items())
    zeros = sum(int(np.count_nonzero(w == 0)) for w in weights)
    spiking = [l for l in range(len(layers)) if m.spiking[l]]
    spikes = sum(int(counts[l, ev.SPIKES]) for l in spiking)
    updates = sum(int(counts[l, ev.NEURON_UPDATES]) for l in spiking)
    macs = 0 if chip.formats.binary_input else int(counts[0, ev.EFFECTIVE_SYNAPTIC_OPS])
    acs = int(counts[:, ev.EFFECTIVE_SYNAPTIC_OPS].sum()) - macs
    per = max(1, samples)
    return {
        "footprint_bytes": int(footprint),
        "connection_sparsity": zeros / max(1, sum(w.size for w in weights)),
        "activation_sparsity": 1.0 - spikes / updates if updates else None,
        "effective_macs": macs / per,
        "effective_acs": acs / per,
        "dense_synaptic_ops": steps * sum(dense_ops_per_step(m, l) for l in range(len(layers))),
        "membrane_updates": sum(int(counts[l, ev.MEMBRANE_CHANGES]) for l in spiking) / per,
        "classification_accuracy": accuracy,
        "samples": samples,
        "source": SOURCE,
    }
