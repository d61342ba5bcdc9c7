"""Scaled weight standardization (the paper's reparameterization of conv and linear weights).

Per output channel o, over its fan-in n = in_channels x kh x kw (or n_in for dense):
    W_eff[o] = scale x gain[o] x (W[o] - mean(W[o])) / sqrt(var(W[o]) x n + eps)
with the unbiased variance, a learnable gain (starts at 1) and a constant ``scale`` for layers
whose input is spikes (2.74 in the paper). Learning rules give gradients with respect to
W_eff; ``standardize_vjp`` carries them back to W and gain. A chip stores W_eff: the
standardization itself needs every weight of a channel, so it is not a local operation.

The authors' VGG (github.com/pkuxmq/OTTT-SNN, models/spiking_vgg.py) standardizes its convs
(ScaledWSConv2d) and multiplies every neuron's spikes by 2.74 (Scale), so every layer but the
first (which sees the image) gets ``scale``; its read-out is a plain nn.Linear (no
standardization, no gain) that still sees the scaled spikes: W_eff = scale x W.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardization:
    """Per synaptic layer (network order): its constant ``scales`` and whether it is
    ``standardized`` (with a gain) or plain (W_eff = scale x W, no gain); ``eps`` as below."""

    eps: float
    scales: tuple
    standardized: tuple

    @classmethod
    def authors(cls, n_layers: int, eps: float, scale: float, readout: bool):
        """The authors' arrangement for ``n_layers`` synaptic layers: ``scale`` on all but the
        first, every layer standardized but the read-out (unless ``readout``)."""
        return cls(eps, tuple(1.0 if i == 0 else scale for i in range(n_layers)),
                   tuple(i < n_layers - 1 or readout for i in range(n_layers)))

    def effective(self, i: int, raw: np.ndarray, gain) -> np.ndarray:
        """W_eff of layer i from its raw weights and gain (None for a plain layer)."""
        if not self.standardized[i]:
            return self.scales[i] * raw
        return standardize(raw, gain, self.eps, self.scales[i])

    def vjp(self, i: int, raw: np.ndarray, gain, g_eff: np.ndarray):
        """(dL/dW, dL/dgain or None) of layer i from dL/dW_eff."""
        if not self.standardized[i]:
            return self.scales[i] * g_eff, None
        return standardize_vjp(raw, gain, g_eff, self.eps, self.scales[i])


def standardize(w: np.ndarray, gain: np.ndarray, eps: float, scale: float = 1.0) -> np.ndarray:
    rows = w.reshape(len(w), -1)
    n = rows.shape[1]
    centred = rows - rows.mean(axis=1, keepdims=True)
    s = np.sqrt(centred.var(axis=1, ddof=1, keepdims=True) * n + eps)
    return (scale * gain.reshape(-1, 1) * centred / s).reshape(w.shape)


def standardize_vjp(w: np.ndarray, gain: np.ndarray, g_eff: np.ndarray, eps: float,
                    scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(dL/dW, dL/dgain) from dL/dW_eff."""
    rows = w.reshape(len(w), -1)
    n = rows.shape[1]
    centred = rows - rows.mean(axis=1, keepdims=True)
    s = np.sqrt(centred.var(axis=1, ddof=1, keepdims=True) * n + eps)
    g = scale * g_eff.reshape(len(w), -1)
    gain_col = gain.reshape(-1, 1)
    d_gain = np.sum(g * centred / s, axis=1)
    proj = np.sum(g * centred, axis=1, keepdims=True)
    d_w = gain_col / s * (g - g.mean(axis=1, keepdims=True)) \
        - gain_col / s ** 3 * (n / (n - 1)) * centred * proj
    return d_w.reshape(w.shape), d_gain.reshape(gain.shape)
