"""A small YAML architecture for weight files that carry no structure (npz, torch state_dict).

    input: [1, 28, 28]          # (C, H, W), or [n] for vectors
    neuron: {tau: 2.0, threshold: 1.0, reset: subtract, firing: ">=", reset_at: same_step}
    layers:
      - {name: conv1, type: conv2d, channels: 16, kernel: 3, stride: 1, padding: 1}
      - {name: pool1, type: avgpool2d, kernel: 2}           # or sumpool2d; stride = kernel
      - {name: flat, type: flatten}
      - {name: fc1, type: dense, units: 128}
      - {name: out, type: dense, units: 10, neuron: readout}

Synaptic layers (dense, conv2d) spike unless ``neuron: readout``; a layer may give its own
``neuron: {...}`` mapping. Weights come keyed by layer name: ``name`` or ``name.weight`` and
optionally ``name.bias``, dense (out, in), conv2d (out, in, kh, kw). ``name.raw`` and
``name.gain`` (a weight-standardized run's weights.npz) are checked and kept beside the
network; it computes with ``name``, the effective weights. ``architecture_of`` writes this
format for any Network (a run directory's ``weights.yaml``); other top-level keys (a run's
``chip:`` section) are read elsewhere and ignored here.

Neuron modules (torch state_dict files only): snnTorch's ``Leaky`` stores its parameters in
the state_dict (``lif1.beta``, ``lif1.threshold``, ``lif1.graded_spikes_factor``,
``lif1.reset_mechanism_val``). They set the neuron of the synaptic layer they follow in the
file: a state_dict lists modules in registration order, so ``fc1.weight, fc1.bias, lif1.beta,
...`` gives ``lif1`` to ``fc1``, as ``from_torch`` pairs a neuron module with the layer before
it. Where that order does not say it (a hand-built dict), name the module on its layer:

      - {name: fc1, type: dense, units: 128, neuron_module: lif1}

Such a layer takes its neuron from the file (tau = 1 / (1 - beta), snnTorch's firing '>' and
reset; see ``chipsim.mapping.from_torch``), not from ``neuron`` (giving both is refused), and
must not be ``neuron: readout`` (a Leaky after the last Linear is a spiking output layer).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from chipsim.config import read_yaml_file
from chipsim.errors import DataError
from chipsim.mapping.network import (Conv2d, Dense, Flatten, Network, Neuron, Pool2d,
                                     reparameterization)

# every field of the Neuron dataclass, so a field added there is written and read back
NEURON_KEYS = {f.name for f in dataclasses.fields(Neuron)}


def read_architecture(path: str | Path) -> dict:
    arch = read_yaml_file(path, "architecture (the .yaml beside the weights file)", DataError)
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list) \
            or not isinstance(arch.get("input"), list) or not arch["input"] \
            or not all(_whole(v, 1) for v in arch["input"]):
        raise DataError(f"architecture '{path}': expected a mapping with 'input' (a shape: "
                        "a list of whole numbers >= 1) and 'layers' (a list of layers)")
    return arch


def _whole(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _count(spec: dict, key: str, where: str, low: int = 1) -> int:
    """spec[key] as a whole number >= low, or DataError naming the key."""
    value = spec.get(key)
    if not _whole(value, low):
        got = "nothing" if key not in spec else repr(value)
        raise DataError(f"{where}.{key}: expected a whole number >= {low}, got {got}")
    return value


def _pair(value, where, low: int = 1):
    if _whole(value, low):
        return (value, value)
    if isinstance(value, list) and len(value) == 2 and all(_whole(v, low) for v in value):
        return tuple(value)
    raise DataError(f"{where}: expected a whole number >= {low} or a pair of them, got "
                    f"{value!r}")


def _neuron(spec, where, default: Neuron) -> Neuron:
    if not isinstance(spec, dict) or not set(spec) <= NEURON_KEYS:
        raise DataError(f"{where}: a neuron is a mapping with keys {sorted(NEURON_KEYS)}")
    values = {**default.__dict__, **spec}
    tau, threshold = values["tau"], values["threshold"]
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau >= 1.0:
        raise DataError(f"{where}.tau: expected a number >= 1 (.inf: no leak), got {tau!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0.0 < threshold < float("inf"):
        raise DataError(f"{where}.threshold: expected a finite number > 0, got {threshold!r}")
    if values["firing"] not in (">=", ">") or values["reset"] not in ("subtract", "zero") \
            or values["reset_at"] not in ("same_step", "next_step") \
            or (values["reset"], values["reset_at"]) == ("zero", "next_step"):
        raise DataError(f"{where}: firing is '>=' or '>', reset 'subtract' or 'zero', reset_at "
                        "'same_step' or 'next_step' (a zero reset only in the same step)")
    return Neuron(**{**values, "tau": float(values["tau"]),
                     "threshold": float(values["threshold"])})


def layers_from_specs(input_shape, specs: list[dict], default: Neuron, where: str) -> list:
    """Layer descriptions from specs (name, type and the type's keys), shapes inferred."""
    shape = tuple(int(v) for v in input_shape)
    layers = []
    for i, spec in enumerate(specs):
        at = f"{where}: layers[{i}]"
        if not isinstance(spec, dict) or "type" not in spec or "name" not in spec:
            raise DataError(f"{at}: each layer needs 'name' and 'type'")
        name, kind = str(spec["name"]), spec["type"]
        at = f"{where}: layers[{i}] ('{name}')"
        neuron_spec = spec.get("neuron")
        spiking = neuron_spec != "readout"
        neuron = _neuron(neuron_spec, f"{at}.neuron", default) if isinstance(neuron_spec, dict) else None
        if kind == "dense":
            layer = Dense(name, math.prod(shape), _count(spec, "units", at), spiking, neuron)
            shape = (layer.n_out,)
        elif kind == "conv2d":
            if len(shape) != 3:
                raise DataError(f"{at}: conv2d needs a (C, H, W) input, got {shape} (give the "
                                "input's shape, e.g. network.input_shape: [1, 28, 28])")
            layer = Conv2d(name, shape, _count(spec, "channels", at),
                           _pair(spec.get("kernel"), f"{at}.kernel"),
                           _pair(spec.get("stride", 1), f"{at}.stride"),
                           _pair(spec.get("padding", 0), f"{at}.padding", low=0),
                           spiking, neuron)
            shape = layer.out_shape
        elif kind in ("avgpool2d", "sumpool2d"):
            if len(shape) != 3:
                raise DataError(f"{at}: pooling needs a (C, H, W) input, got {shape}")
            k = _pair(spec.get("kernel"), f"{at}.kernel")
            layer = Pool2d(name, shape, k, _pair(spec.get("stride", list(k)), f"{at}.stride"),
                           "avg" if kind == "avgpool2d" else "sum",
                           _pair(spec.get("padding", 0), f"{at}.padding", low=0))
            shape = layer.out_shape
        elif kind == "flatten":
            layer = Flatten(name, shape)
            shape = (math.prod(shape),)
        else:
            raise DataError(f"{at}: unknown type {kind!r}; types: dense, conv2d, avgpool2d, "
                            "sumpool2d, flatten")
        if min(shape) < 1:
            raise DataError(f"{at}: layer '{name}' leaves no output (shape {shape}); check "
                            "kernel, stride and padding against the input size")
        layers.append(layer)
    if not layers or layers[-1].kind not in ("dense", "conv2d"):
        raise DataError(f"{where}: the last layer must be dense or conv2d")
    return layers


def weight_shape(layer) -> tuple:
    return layer.weight_shape if layer.kind == "conv2d" else (layer.n_out, layer.n_in)


def build_from_architecture(arch: dict, weights: dict[str, np.ndarray], where: str,
                            standardized_run: bool = True, neuron_modules: bool = False) -> Network:
    """Network from an architecture and weights keyed ``name``/``name.weight``/``name.bias``.

    ``standardized_run``: also take ``name.raw`` / ``name.gain`` as chipsim's weights.npz
    writes them (False for a torch state_dict, where a gain means its weight is raw).
    ``neuron_modules``: the caller reads the layers' ``neuron_module`` keys (torch files);
    elsewhere such a key is refused rather than ignored."""
    if not neuron_modules:
        named = [str(spec.get("name")) for spec in arch["layers"]
                 if isinstance(spec, dict) and "neuron_module" in spec]
        if named:
            raise DataError(f"{where}: layers {', '.join(named)} give neuron_module, which "
                            "only torch state_dict files (.pt, .pth) carry; give the neuron "
                            "with neuron: {tau: ..., threshold: ...} instead")
    default = _neuron(arch.get("neuron", {}), f"{where}: neuron", Neuron())
    layers = layers_from_specs(arch["input"], arch["layers"], default, where)
    w_out, b_out, used = {}, {}, set()
    for layer in layers:
        if layer.kind not in ("dense", "conv2d"):
            continue
        name, expect = layer.name, weight_shape(layer)
        w = weights.get(name, weights.get(f"{name}.weight"))
        if w is None:
            raise DataError(f"{where}: no weights for layer '{name}' (expected an array "
                            f"'{name}' or '{name}.weight' of shape {expect})")
        if tuple(w.shape) != tuple(expect) or not np.all(np.isfinite(w)):
            raise DataError(f"{where}: weights of '{name}' have shape {tuple(w.shape)}, the "
                            f"architecture needs {tuple(expect)} (finite values)")
        w_out[name] = np.asarray(w, dtype=np.float64)
        used.update({name, f"{name}.weight"})
        if f"{name}.bias" in weights:
            b = weights[f"{name}.bias"]
            if tuple(b.shape) != (expect[0],) or not np.all(np.isfinite(b)):
                raise DataError(f"{where}: bias of '{name}' has shape {tuple(b.shape)}, the "
                                f"architecture needs ({expect[0]},) (finite values)")
            b_out[name] = np.asarray(b, dtype=np.float64)
            used.add(f"{name}.bias")
    # a run with weight standardization writes raw weights and gains beside the effective
    # weights: the network computes with the effective ones, the others are kept for training
    synaptic = [layer for layer in layers if layer.kind in ("dense", "conv2d")]
    raw, gain = reparameterization(weights, synaptic, where) if standardized_run else ({}, {})
    used.update(f"{n}.raw" for n in raw)
    used.update(f"{n}.gain" for n in gain)
    unused = sorted(set(weights) - used)
    if unused:
        raise DataError(f"{where}: arrays not used by the architecture: {', '.join(unused)} "
                        "(a layer name that does not match, or a layer the architecture lacks)")
    return Network(math.prod(arch["input"]), tuple(layers), default, w_out, b_out, raw,
                   gain)


def neuron_as_dict(neuron: Neuron) -> dict:
    """A Neuron as an architecture mapping: every dataclass field (tau may be inf: YAML
    writes it as .inf and reads it back)."""
    return dataclasses.asdict(neuron)


def _layer_spec(layer, default: Neuron) -> dict:
    """One layer of ``architecture_of``: the keys ``layers_from_specs`` reads back."""
    spec: dict = {"name": layer.name}
    if layer.kind == "dense":
        spec.update(type="dense", units=layer.n_out)
    elif layer.kind == "conv2d":
        spec.update(type="conv2d", channels=layer.out_channels, kernel=list(layer.kernel),
                    stride=list(layer.stride), padding=list(layer.padding))
    elif layer.kind == "pool2d":
        spec.update(type=f"{layer.mode}pool2d", kernel=list(layer.kernel),
                    stride=list(layer.stride), padding=list(layer.padding))
    else:
        spec["type"] = "flatten"
    if layer.kind in ("dense", "conv2d"):
        if not layer.spiking:
            spec["neuron"] = "readout"
        elif layer.neuron is not None and layer.neuron != default:
            spec["neuron"] = neuron_as_dict(layer.neuron)
    return spec


def architecture_of(network: Network) -> dict:
    """The architecture mapping of ``network`` (inverse of ``build_from_architecture``):
    input shape, default neuron, layers with a neuron of their own where it differs."""
    first = network.layers[0]
    shape = list(first.in_shape) if hasattr(first, "in_shape") else [network.n_inputs]
    return {"input": shape, "neuron": neuron_as_dict(network.neuron),
            "layers": [_layer_spec(layer, network.neuron) for layer in network.layers]}
