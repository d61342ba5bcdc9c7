"""Float weights to the chip's integer weights, with a report of what quantization cost."""
from __future__ import annotations

import numpy as np


def quantize_weights(network, formats, trained=None) -> tuple[list[np.ndarray], list[dict]]:
    """Round each layer's float weights to its weight format (nearest, saturating).

    Returns the integer (out, in) arrays and per layer: format, saturated count, max and RMS
    rounding error (real units), and the fraction of weights that became zero. ``trained``
    (layer name -> Format a chip trained the weights in) adds ``trained_format`` and
    ``requantized`` (whether the format differs, so the integers changed) to those layers.
    """
    trained = trained or {}
    ints, report = [], []
    for layer, lf in zip(network.synaptic, formats.layers):
        w = network.weights[layer.name]
        q, saturated = lf.weight.quantize(w)
        err = lf.weight.to_real(q) - w
        ints.append(q)
        report.append({"layer": layer.name, "format": lf.weight.describe(),
                       "saturated": saturated,
                       "max_abs_error": float(np.abs(err).max()) if w.size else 0.0,
                       "rms_error": float(np.sqrt(np.mean(err ** 2))) if w.size else 0.0,
                       "zero_fraction": float(np.mean(q == 0)) if w.size else 0.0})
        if layer.name in trained:
            report[-1].update(trained_format=trained[layer.name].describe(),
                              requantized=trained[layer.name] != lf.weight)
    return ints, report


def quantize_biases(network, formats) -> tuple[list, list[dict]]:
    """Each layer's bias rounded to its bias format (None for a layer without one), and per
    layer with a bias: format, saturated count and max rounding error (real units)."""
    ints, report = [], []
    for layer, lf in zip(network.synaptic, formats.layers):
        b = network.biases.get(layer.name)
        if b is None:
            ints.append(None)
            continue
        q, saturated = lf.bias.quantize(b)
        err = lf.bias.to_real(q) - b
        ints.append(q)
        report.append({"layer": f"{layer.name}.bias", "format": lf.bias.describe(),
                       "saturated": saturated, "max_abs_error": float(np.abs(err).max()),
                       "rms_error": float(np.sqrt(np.mean(err ** 2))),
                       "zero_fraction": float(np.mean(q == 0))})
    return ints, report
