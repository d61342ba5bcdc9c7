"""The linear operators of layers, on batches of flattened activity, in float64.

Every layer of a network is a linear map of its input followed (for synaptic layers) by
neurons. For the float64 reference and its learning rules each map has three functions:

  forward(layer, w, x)        the layer's input current (B, n_out) from x (B, n_in)
  transpose(layer, w, g)      g (B, n_out) carried back to the input: the map's transpose
  weight_grad(layer, g, x)    sum over the batch of g's outer product with x, shaped like w

Conv2d is a cross-correlation as in torch (weights (out, in, kh, kw), zero padding), computed
by unfolding input windows (im2col); pooling is average or sum over non-overlapping windows
when stride = kernel (the mapper's case) and general windows otherwise; flatten is the identity
on flattened activity (C, H, W in C order).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _unfold(x: np.ndarray, shape, kernel, stride, padding) -> np.ndarray:
    """(B, C*H*W) -> (B, Ho, Wo, C, kh, kw) windows of the zero-padded maps."""
    c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    maps = x.reshape(-1, c, h, w)
    if ph or pw:
        maps = np.pad(maps, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(maps, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return win.transpose(0, 2, 3, 1, 4, 5)


def _fold(cols: np.ndarray, shape, kernel, stride, padding) -> np.ndarray:
    """Adjoint of _unfold: (B, Ho, Wo, C, kh, kw) windows summed back into (B, C*H*W)."""
    c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    b, ho, wo = cols.shape[:3]
    out = np.zeros((b, c, h + 2 * ph, w + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            out[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += cols[..., i, j].transpose(0, 3, 1, 2)
    return out[:, :, ph:ph + h, pw:pw + w].reshape(b, -1)


def forward(layer, w, x: np.ndarray) -> np.ndarray:
    kind = layer.kind
    if kind == "dense":
        return x @ w.T
    if kind == "conv2d":
        cols = _unfold(x, layer.in_shape, layer.kernel, layer.stride, layer.padding)
        b, ho, wo = cols.shape[:3]
        out = cols.reshape(b * ho * wo, -1) @ w.reshape(w.shape[0], -1).T
        return out.reshape(b, ho, wo, -1).transpose(0, 3, 1, 2).reshape(b, -1)
    if kind == "pool2d":
        cols = _unfold(x, layer.in_shape, layer.kernel, layer.stride, layer.padding)
        pooled = cols.sum(axis=(4, 5))
        if layer.mode == "avg":
            pooled = pooled / (layer.kernel[0] * layer.kernel[1])
        return pooled.transpose(0, 3, 1, 2).reshape(len(x), -1)
    return x  # flatten


def transpose(layer, w, g: np.ndarray) -> np.ndarray:
    kind = layer.kind
    if kind == "dense":
        return g @ w
    if kind == "conv2d":
        co, ho, wo = layer.out_shape
        gm = g.reshape(-1, co, ho, wo).transpose(0, 2, 3, 1)
        cols = (gm.reshape(-1, co) @ w.reshape(co, -1)).reshape(
            len(g), ho, wo, layer.in_shape[0], *layer.kernel)
        return _fold(cols, layer.in_shape, layer.kernel, layer.stride, layer.padding)
    if kind == "pool2d":
        c, ho, wo = layer.out_shape
        scale = 1.0 / (layer.kernel[0] * layer.kernel[1]) if layer.mode == "avg" else 1.0
        gm = (g.reshape(-1, c, ho, wo) * scale).transpose(0, 2, 3, 1)
        cols = np.broadcast_to(gm[..., None, None], gm.shape + tuple(layer.kernel))
        return _fold(cols, layer.in_shape, layer.kernel, layer.stride, layer.padding)
    return g  # flatten


def weight_grad(layer, g: np.ndarray, x: np.ndarray) -> np.ndarray:
    if layer.kind == "dense":
        return g.T @ x
    cols = _unfold(x, layer.in_shape, layer.kernel, layer.stride, layer.padding)
    b, ho, wo = cols.shape[:3]
    co = layer.out_channels
    gm = g.reshape(b, co, ho * wo).transpose(0, 2, 1).reshape(-1, co)
    return (gm.T @ cols.reshape(b * ho * wo, -1)).reshape(layer.weight_shape)


def bias_grad(layer, g: np.ndarray) -> np.ndarray:
    if layer.kind == "conv2d":
        co, ho, wo = layer.out_shape
        return g.reshape(-1, co, ho * wo).sum(axis=(0, 2))
    return g.sum(axis=0)


def add_bias(layer, current: np.ndarray, b: np.ndarray) -> np.ndarray:
    if layer.kind == "conv2d":
        co, ho, wo = layer.out_shape
        return current + np.repeat(b, ho * wo)
    return current + b
