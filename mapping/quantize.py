"""Float weights and biases to the chip's integers, with a report of what quantization cost."""
from __future__ import annotations

import numpy as np


def _quantized(key: str, values: np.ndarray, fmt, trained) -> tuple[np.ndarray, dict]:
    """``values`` rounded to ``fmt`` (nearest, saturating) and the report row named ``key``."""
    q, saturated = fmt.quantize(values)
    err = fmt.to_real(q) - values
    row = {"layer": key, "format": fmt.describe(), "saturated": saturated,
           "max_abs_error": float(np.abs(err).max()) if values.size else 0.0,
           "rms_error": float(np.sqrt(np.mean(err ** 2))) if values.size else 0.0,
           "zero_fraction": float(np.mean(q == 0)) if values.size else 0.0}
    if key in trained:
        row.update(trained_format=trained[key].describe(), requantized=trained[key] != fmt)
    return q, row


def quantize_weights(network, formats, trained=None) -> tuple[list[np.ndarray], list[dict]]:
    """Round each layer's float weights to its weight format (nearest, saturating).

    Returns the integer (out, in) arrays and per layer: format, saturated count, max and RMS
    rounding error (real units), and the fraction of weights that became zero. ``trained``
    (layer name -> Format a chip trained the weights in) adds ``trained_format`` and
    ``requantized`` (whether the format differs, so the integers changed) to those layers.
    """
    trained = trained or {}
    pairs = [_quantized(layer.name, network.weights[layer.name], lf.weight, trained)
             for layer, lf in zip(network.synaptic, formats.layers)]
    return [q for q, _ in pairs], [row for _, row in pairs]


def quantize_biases(network, formats, trained=None) -> tuple[list, list[dict]]:
    """Each layer's bias rounded to its bias format (None for a layer without one), and a
    report row '<layer>.bias' per layer with a bias, as ``quantize_weights``'s (``trained``
    keyed '<layer>.bias')."""
    trained = trained or {}
    ints, report = [], []
    for layer, lf in zip(network.synaptic, formats.layers):
        if layer.name not in network.biases:
            ints.append(None)
            continue
        q, row = _quantized(f"{layer.name}.bias", network.biases[layer.name], lf.bias, trained)
        ints.append(q)
        report.append(row)
    return ints, report
