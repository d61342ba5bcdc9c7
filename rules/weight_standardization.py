"""Scaled weight standardization (the paper's reparameterization of conv and linear weights).

Per output channel o, over its fan-in n = in_channels x kh x kw (or n_in for dense):
    W_eff[o] = scale x gain[o] x (W[o] - mean(W[o])) / sqrt(var(W[o]) x n + eps)
with the unbiased variance, a learnable gain (starts at 1) and a constant ``scale`` for layers
whose input is spikes (2.74 in the paper). Learning rules give gradients with respect to
W_eff; ``standardize_vjp`` carries them back to W and gain. A chip stores W_eff: the
standardization itself needs every weight of a channel, so it is not a local operation.
"""
import numpy as np


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
