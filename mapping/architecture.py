"""A small YAML architecture for weight files that carry no structure (npz, torch state_dict).

    input: [1, 28, 28]          # (C, H, W), or [n] for vectors
    neuron: {tau: 2.0, threshold: 1.0, reset: subtract, firing: ">=", reset_at: same_step,
             tau_syn: 1.0}
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
from typing import Annotated, Literal, Union

import annotated_types as at
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chipsim.config import Pad, Size, problems_text, read_yaml_file, schema_problems
from chipsim.errors import DataError
from chipsim.mapping.network import (Conv2d, Dense, Flatten, Network, Neuron, Pool2d,
                                     param_shape, reparameterization)


# ----------------------------------------------------------------------------- the schema
# The file is validated by the same machinery as net.yaml (chipsim.config): unknown keys,
# wrong types and values out of range are named with what the key accepts.
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NeuronSpec(_Spec):
    """A neuron's keys, the fields of ``Neuron``; those given replace the default's."""

    tau: Union[float, None] = Field(None, ge=1.0, description="time constant in steps "
                                    "(.inf: no leak)")
    threshold: Union[float, None] = Field(None, gt=0.0, lt=math.inf)
    reset: Union[Literal["subtract", "zero"], None] = None
    firing: Union[Literal[">=", ">"], None] = None
    reset_at: Union[Literal["same_step", "next_step"], None] = None
    tau_syn: Union[float, None] = Field(None, ge=1.0, lt=math.inf, description="synaptic "
                                        "current time constant in steps (1: none)")


# a layer spikes with the default neuron ('lif'), its own, or is a read-out
LayerNeuron = Union[Literal["lif", "readout"], NeuronSpec]


class DenseSpec(_Spec):
    name: str
    type: Literal["dense"]
    units: Annotated[int, at.Ge(1)]
    recurrent: bool = False
    neuron: LayerNeuron = "lif"
    neuron_module: Union[str, None] = None


class Conv2dSpec(_Spec):
    name: str
    type: Literal["conv2d"]
    channels: Annotated[int, at.Ge(1)]
    kernel: Size
    stride: Size = 1
    padding: Pad = 0
    neuron: LayerNeuron = "lif"
    neuron_module: Union[str, None] = None


class PoolSpec(_Spec):
    name: str
    type: Literal["avgpool2d", "sumpool2d"]
    kernel: Size
    stride: Union[Size, None] = None  # the kernel's
    padding: Pad = 0


class FlattenSpec(_Spec):
    name: str
    type: Literal["flatten"]


class ArchitectureFile(_Spec):
    # other top-level keys (a run's weights.yaml has a chip: section) are read elsewhere
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    input: Annotated[list[Annotated[int, at.Ge(1)]], at.MinLen(1)]
    neuron: NeuronSpec = NeuronSpec()
    layers: Annotated[list[Annotated[Union[DenseSpec, Conv2dSpec, PoolSpec, FlattenSpec],
                                     Field(discriminator="type")]], at.MinLen(1)]


# the fields of the Neuron dataclass: NeuronSpec names each (tests/test_run_as_model.py), so a
# field added there is written and read back
NEURON_KEYS = {f.name for f in dataclasses.fields(Neuron)}


def read_architecture(path: str | Path) -> dict:
    arch = read_yaml_file(path, "architecture (the .yaml beside the weights file)", DataError)
    validate_architecture(arch, f"architecture '{path}'")
    return arch


def validate_architecture(arch, where: str) -> ArchitectureFile:
    """``arch`` checked against the schema above (DataError naming every offending key; a
    layer's name follows its index)."""
    if not isinstance(arch, dict):
        raise DataError(f"{where}: expected a mapping with 'input' (a shape: a list of whole "
                        "numbers >= 1) and 'layers' (a list of layers)")
    try:
        return ArchitectureFile.model_validate(arch)
    except ValidationError as exc:
        layers = arch.get("layers") if isinstance(arch.get("layers"), list) else []
        named = {("layers", i): f"layers.{i} ('{spec['name']}')" for i, spec in enumerate(layers)
                 if isinstance(spec, dict) and isinstance(spec.get("name"), str)}
        problems = schema_problems(exc, ArchitectureFile, named)
        raise DataError(problems_text(where, problems, "the architecture")) from None


def _pair(value) -> tuple:
    return (value, value) if isinstance(value, int) else tuple(value)


def _neuron(spec: dict, where: str, default: Neuron) -> Neuron:
    """The default neuron with the keys given replaced (keys and values already checked)."""
    values = {**default.__dict__, **{k: v for k, v in spec.items() if v is not None}}
    if (values["reset"], values["reset_at"]) == ("zero", "next_step"):
        raise DataError(f"{where}: reset 'zero' only in the same step (reset_at: same_step)")
    return Neuron(**{**values, "tau": float(values["tau"]),
                     "threshold": float(values["threshold"]),
                     "tau_syn": float(values["tau_syn"])})


def layers_from_specs(input_shape, specs: list[dict], default: Neuron, where: str) -> list:
    """Layer descriptions from validated specs (name, type and the type's keys; absent or
    None keys take their defaults), shapes inferred."""
    shape = tuple(int(v) for v in input_shape)
    layers = []
    for i, spec in enumerate(specs):
        name, kind = str(spec["name"]), spec["type"]
        at = f"{where}: layers.{i} ('{name}')"
        neuron_spec = spec.get("neuron")
        spiking = neuron_spec != "readout"
        neuron = _neuron(neuron_spec, f"{at}.neuron", default) if isinstance(neuron_spec, dict) else None
        if kind == "dense":
            if spec.get("recurrent") and not spiking:
                raise DataError(f"{at}: a read-out has no spikes to feed back; recurrent: true "
                                "needs a spiking layer")
            layer = Dense(name, math.prod(shape), spec["units"], spiking, neuron,
                          bool(spec.get("recurrent")))
            shape = (layer.n_out,)
        elif kind == "conv2d":
            if len(shape) != 3:
                raise DataError(f"{at}: conv2d needs a (C, H, W) input, got {shape} (give the "
                                "input's shape, e.g. network.input_shape: [1, 28, 28])")
            layer = Conv2d(name, shape, spec["channels"], _pair(spec["kernel"]),
                           _pair(spec.get("stride") or 1), _pair(spec.get("padding") or 0),
                           spiking, neuron)
            shape = layer.out_shape
        elif kind in ("avgpool2d", "sumpool2d"):
            if len(shape) != 3:
                raise DataError(f"{at}: pooling needs a (C, H, W) input, got {shape}")
            k = _pair(spec["kernel"])
            layer = Pool2d(name, shape, k, _pair(spec.get("stride") or k),
                           "avg" if kind == "avgpool2d" else "sum",
                           _pair(spec.get("padding") or 0))
            shape = layer.out_shape
        else:
            layer = Flatten(name, shape)
            shape = (math.prod(shape),)
        if min(shape) < 1:
            raise DataError(f"{at}: layer '{name}' leaves no output (shape {shape}); check "
                            "kernel, stride and padding against the input size")
        layers.append(layer)
    if not layers or layers[-1].kind not in ("dense", "conv2d"):
        raise DataError(f"{where}: the last layer must be dense or conv2d")
    if layers[-1].recurrent:
        raise DataError(f"{where}: the last layer ('{layers[-1].name}') cannot be recurrent "
                        "(only hidden spiking dense layers)")
    return layers


def build_from_architecture(arch: dict, weights: dict[str, np.ndarray], where: str,
                            standardized_run: bool = True, neuron_modules: bool = False) -> Network:
    """Network from an architecture and weights keyed ``name``/``name.weight``/``name.bias``.

    ``standardized_run``: also take ``name.raw`` / ``name.gain`` as chipsim's weights.npz
    writes them (False for a torch state_dict, where a gain means its weight is raw).
    ``neuron_modules``: the caller reads the layers' ``neuron_module`` keys (torch files);
    elsewhere such a key is refused rather than ignored."""
    spec = validate_architecture(arch, where)
    if not neuron_modules:
        named = [layer.name for layer in spec.layers if getattr(layer, "neuron_module", None)]
        if named:
            raise DataError(f"{where}: layers {', '.join(named)} give neuron_module, which "
                            "only torch state_dict files (.pt, .pth) carry; give the neuron "
                            "with neuron: {tau: ..., threshold: ...} instead")
    default = _neuron(spec.neuron.model_dump(), f"{where}: neuron", Neuron())
    layers = layers_from_specs(spec.input, [layer.model_dump() for layer in spec.layers],
                               default, where)
    w_out, b_out, used = {}, {}, set()
    for layer in layers:
        if layer.kind not in ("dense", "conv2d"):
            continue
        name, expect = layer.name, param_shape(layer)
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
        if layer.recurrent:
            spec["recurrent"] = True
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
