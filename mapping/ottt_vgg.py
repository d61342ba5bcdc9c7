"""The OTTT authors' spiking VGG, rebuilt as small torch modules for import tests and examples.

Xiao et al. (NeurIPS 2022) train a VGG-11 with weight standardization on CIFAR-10
(github.com/pkuxmq/OTTT-SNN, ``models/spiking_vgg.py``, ``modules/neuron.py``). This module
re-implements the pieces that define what the network computes, nothing of the training
machinery (rate tracking, gradient wrapping, dropout masks):

- ``ScaledWSConv2d`` / ``ScaledWSLinear``: weight standardization per output channel o,
  W_hat[o] = gain[o] * (W[o] - mean(W[o])) / sqrt(var(W[o]) * fan_in + eps), var unbiased
  (torch.var's default, N - 1), fan_in = in_channels * kh * kw (or in_features), eps = 1e-4;
- ``OnlineLIFNode``: single-step LIF, v = (1 - 1/tau) v + x (no input decay), spike when
  v >= threshold, soft reset v -= threshold * s in the same step (tau 2, threshold 1);
- ``Scale(2.74)``: the spikes of every neuron layer are multiplied by 2.74 (the authors'
  constant that restores unit variance for spikes feeding standardized weights).

VGG-11 as in the paper's CIFAR-10 net (cfg 'A', light classifier, fc_hw = 1):
64C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3, each conv followed by
OnlineLIFNode and Scale(2.74), then global average pooling, flatten and Linear(512, classes)
as the non-spiking read-out. ``chipsim.mapping.from_torch.from_torch`` recognises these modules
(and the authors' own classes of the same names) and folds what they compute into a Network.

torch is imported only inside functions; without it, ``DataError`` says how to install it.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace

from chipsim.errors import DataError

#: The paper's VGG configurations: ints are 3x3 conv widths (padding 1), 'M' a 2x2 avg pool.
CFGS = {
    "VGG11": (64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512),
}

#: The authors' post-neuron scale (Scale(2.74) in their models/spiking_vgg.py).
SPIKE_SCALE = 2.74


def require_torch(what: str):
    """Import torch or raise DataError naming ``what`` needed it."""
    try:
        import torch
    except ImportError:
        raise DataError(f"{what} needs PyTorch, which is not installed; install it with "
                        "pip install 'chipsim[torch]' (or pip install torch)") from None
    return torch


def standardized_weight(weight, gain, eps: float):
    """Weight standardization per output channel (dim 0), as the OTTT authors' ScaledWS layers.

    W_hat = (W - mean) / sqrt(var * fan_in + eps) * gain, mean and unbiased var over all dims
    but the first, fan_in = the product of those dims; ``gain`` (out, 1, ...) or None. Works on
    torch tensors; the result has zero mean per output channel (up to rounding).
    """
    torch = require_torch("weight standardization")
    dims = list(range(1, weight.dim()))
    fan_in = 1
    for d in weight.shape[1:]:
        fan_in *= int(d)
    mean = torch.mean(weight, dim=dims, keepdim=True)
    var = torch.var(weight, dim=dims, keepdim=True)  # unbiased, as torch.var's default
    w_hat = (weight - mean) / ((var * fan_in + eps) ** 0.5)
    return w_hat if gain is None else w_hat * gain


@functools.lru_cache(maxsize=None)
def modules() -> SimpleNamespace:
    """The torch module classes, built on first use (importing this file needs no torch)."""
    torch = require_torch("chipsim.mapping.ottt_vgg")
    from torch import nn
    from torch.nn import functional as F

    class ScaledWSConv2d(nn.Conv2d):
        """Conv2d whose weight is standardized per output channel and scaled by a learned gain."""

        def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                     bias=True, eps=1e-4):
            super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                             padding=padding, bias=bias)
            self.gain = nn.Parameter(torch.ones(out_channels, 1, 1, 1))
            self.eps = eps

        def forward(self, x):
            return F.conv2d(x, standardized_weight(self.weight, self.gain, self.eps), self.bias,
                            self.stride, self.padding)

    class ScaledWSLinear(nn.Linear):
        """Linear layer with the same per-output weight standardization and gain."""

        def __init__(self, in_features, out_features, bias=True, eps=1e-4):
            super().__init__(in_features, out_features, bias=bias)
            self.gain = nn.Parameter(torch.ones(out_features, 1))
            self.eps = eps

        def forward(self, x):
            return F.linear(x, standardized_weight(self.weight, self.gain, self.eps), self.bias)

    class Scale(nn.Module):
        """Multiplies its input by a constant (the authors' x2.74 after each spiking layer)."""

        def __init__(self, scale: float):
            super().__init__()
            self.scale = float(scale)

        def forward(self, x):
            return x * self.scale

        def extra_repr(self):
            return f"scale={self.scale}"

    class OnlineLIFNode(nn.Module):
        """Single-step LIF, one call per time step; state ``v`` lives until ``reset()``.

        v = (1 - 1/tau) v + x (x / tau when decay_input); s = (v - threshold >= 0);
        v = v - threshold s (v_reset None) or v (1 - s) + s v_reset. The charged membrane
        before the reset of the last step is kept in ``h`` for inspection.
        """

        def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset=None,
                     decay_input: bool = False):
            super().__init__()
            self.tau, self.v_threshold, self.v_reset = float(tau), float(v_threshold), v_reset
            self.decay_input = bool(decay_input)
            self.v = None
            self.h = None

        def reset(self):
            self.v = None
            self.h = None

        def forward(self, x):
            if self.v is None or self.v.shape != x.shape:
                self.v = torch.zeros_like(x)
            if self.decay_input:
                x = x / self.tau
            h = self.v * (1.0 - 1.0 / self.tau) + x
            spike = (h - self.v_threshold >= 0).to(x.dtype)
            if self.v_reset is None:
                self.v = h - spike * self.v_threshold
            else:
                self.v = (1.0 - spike) * h + spike * self.v_reset
            self.h = h
            return spike

        def extra_repr(self):
            return (f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
                    f"decay_input={self.decay_input}")

    return SimpleNamespace(torch=torch, nn=nn, ScaledWSConv2d=ScaledWSConv2d,
                           ScaledWSLinear=ScaledWSLinear, Scale=Scale, OnlineLIFNode=OnlineLIFNode)


def ottt_vgg(cfg="VGG11", in_channels: int = 3, num_classes: int = 10, input_hw: int = 32,
             tau: float = 2.0, threshold: float = 1.0, seed: int | None = 0):
    """The paper's spiking VGG with random weights, as an ``nn.Sequential``.

    Children: ``features`` (an nn.Sequential of ScaledWSConv2d, OnlineLIFNode, Scale(2.74)
    per conv and AvgPool2d(2) per 'M'), ``pool`` (AdaptiveAvgPool2d(1): global average),
    ``flatten``, ``classifier`` (nn.Linear(last width, num_classes), the read-out).
    ``cfg`` is a name of CFGS or a list of ints and 'M'. Initialization as the authors':
    conv weights Kaiming-normal (fan_out, relu), linear weights N(0, 0.01), biases 0, gains 1;
    ``seed`` fixes the draw (None: torch's global generator). Call once per time step on the
    same input; ``reset_states`` clears the membranes between samples. ``input_hw`` is only
    checked: each 'M' halves the map, so it must divide by 2 ** (number of 'M').
    """
    mods = modules()
    torch, nn = mods.torch, mods.nn
    if isinstance(cfg, str):
        if cfg not in CFGS:
            raise DataError(f"ottt_vgg: unknown cfg {cfg!r}; known: {', '.join(CFGS)} "
                            "(or a list of ints and 'M')")
        cfg = CFGS[cfg]
    cfg = list(cfg)
    if not cfg or not all(v == "M" or (isinstance(v, int) and v > 0) for v in cfg) \
            or not isinstance(cfg[0], int):
        raise DataError(f"ottt_vgg: cfg must start with a conv width and hold positive ints "
                        f"and 'M', got {cfg!r}")
    n_pools = cfg.count("M")
    if input_hw < 2 ** n_pools or input_hw % (2 ** n_pools):
        raise DataError(f"ottt_vgg: input_hw {input_hw} must be a positive multiple of "
                        f"{2 ** n_pools} ({n_pools} 2x2 average pools)")
    layers, channels = [], in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.AvgPool2d(kernel_size=2, stride=2))
        else:
            layers += [mods.ScaledWSConv2d(channels, v, 3, padding=1),
                       mods.OnlineLIFNode(tau=tau, v_threshold=threshold),
                       mods.Scale(SPIKE_SCALE)]
            channels = v
    net = nn.Sequential()
    net.add_module("features", nn.Sequential(*layers))
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flatten", nn.Flatten())
    net.add_module("classifier", nn.Linear(channels, num_classes))
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu",
                                        generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
    return net


def reset_states(module) -> None:
    """Clear the membrane of every OnlineLIFNode in ``module`` (call between samples)."""
    for m in module.modules():
        if type(m).__name__ == "OnlineLIFNode" and hasattr(m, "reset"):
            m.reset()
