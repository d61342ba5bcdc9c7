"""A chipsim Network from a PyTorch module (snnTorch, SpikingJelly, the OTTT authors' VGG) or a
state_dict file with a YAML architecture beside it.

``from_torch(module, input_shape)`` reads the module's parameters; it does not run the module
(except for one call of each neuron's spike function on five numbers, to check which side of
the threshold fires). Modules are taken in the order of their registration: an nn.Sequential
(nested ones flattened), or any module whose children are registered in the order its forward
calls them, each once, in a chain (no skips, no branches: chipsim's layers form a chain).

Mapping (``docs/torch.md`` has the full table):

- nn.Linear -> Dense (a Linear after (C, H, W) activity flattens it first, as the
  ``torch.flatten`` in most forward methods); nn.Conv2d -> Conv2d (groups 1, dilation 1,
  zero padding); nn.AvgPool2d / nn.AdaptiveAvgPool2d (exact windows) -> Pool2d('avg');
  nn.Flatten -> Flatten; nn.Identity, nn.Dropout skipped (dropout as in eval mode).
- a spiking neuron module gives the synaptic layer before it its neuron:
  snnTorch ``Leaky``: tau = 1 / (1 - beta), firing '>' (mem - threshold > 0);
  reset 'subtract' -> reset_at 'next_step' (snnTorch subtracts last step's spike after the
  leak: mem = beta mem + I - s[t-1] threshold); reset 'zero' -> reset 'zero', same step
  (zeroing before the next leak equals zeroing at the end of the step); snnTorch
  ``Synaptic`` (reset 'subtract'): the same, with a synaptic current, tau_syn = 1 / (1 - alpha);
  ``RLeaky`` / ``RSynaptic``: the same, and the layer before becomes recurrent;
  SpikingJelly ``LIFNode`` / ``IFNode`` and the OTTT ``OnlineLIFNode`` / ``OnlineIFNode``:
  firing '>=' (heaviside(v - threshold), x >= 0), reset in the same step, v_reset None ->
  'subtract', 0.0 -> 'zero'; decay_input (v += (x - v) / tau) folds 1/tau into the
  preceding weights and bias; IF neurons have tau = inf.
  Each firing rule is checked by calling the neuron's spike function on [-1, -tiny, 0, tiny, 1].
- the OTTT authors' weight-standardized layers (``ScaledWSConv2d``, ``ScaledWSLinear``,
  here and in ``chipsim.mapping.ottt_vgg``): the standardized weight gain * (W - mean) /
  sqrt(var * fan_in + eps) is stored; ``Scale(c)`` multiplies the weights (not the bias) of
  the next synaptic layer by c (or, before a neuron, that layer's weights and bias).
- a synaptic layer without a neuron module after it is the non-spiking read-out, which must
  be the last layer. Biases go to ``Network.biases`` ((out,), conv (out_channels,)), which
  the chip runs; an all-zero bias is dropped (adding 0.0 changes no result).

``read_torch_file(path)``: a state_dict saved with ``torch.save(module.state_dict(), path)``
and the architecture ``path.with_suffix('.yaml')`` (``chipsim.mapping.architecture``); loaded
with ``torch.load(weights_only=True)``, so a file that needs pickle is refused. snnTorch
neuron modules in it (a prefix with ``beta``: beta, threshold, graded_spikes_factor,
reset_mechanism_val) set the neuron of the synaptic layer before them in the file, or of the
layer whose spec says ``neuron_module: <prefix>``, as ``from_torch`` maps a Leaky.

torch stays optional: it is imported inside the functions that need it.
"""
from __future__ import annotations

import dataclasses
import math
import pickle
import re
from pathlib import Path

import numpy as np

from chipsim.errors import DataError
from chipsim.memory_budget import require
from chipsim.mapping.network import (Conv2d, Dense, Flatten, Network, Neuron, Pool2d,
                                     tau_from_leak, with_recurrence)

#: What from_torch maps, for error messages.
SUPPORTED = ("nn.Linear, nn.Conv2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, "
             "nn.Identity, nn.Dropout, snnTorch Leaky, SpikingJelly LIFNode/IFNode, and the OTTT "
             "authors' ScaledWSConv2d, ScaledWSLinear, Scale, OnlineLIFNode, OnlineIFNode")

#: Weight-standardized layers, recognised by class name: the OTTT authors' (and
#: chipsim.mapping.ottt_vgg's) ScaledWS*, SpikingJelly's WS* (same formula).
WS_LAYERS = ("ScaledWSConv2d", "ScaledWSLinear", "WSConv2d", "WSLinear")
#: The OTTT authors' neurons (recognised by name wherever they are defined).
OTTT_NEURONS = ("OnlineLIFNode", "OnlineIFNode")
#: LIF and IF neurons with SpikingJelly's equations (SpikingJelly's own, the OTTT authors').
LIF_NODES = ("LIFNode", "OTTTLIFNode", "SLTTLIFNode", "OnlineLIFNode")
IF_NODES = ("IFNode", "OnlineIFNode")
#: SpikingJelly's layer wrappers override forward only to fold the time dimension ('m' mode).
SJ_LAYERS = "spikingjelly.activation_based.layer"
#: Containers whose only job is to hold their children in order (the OTTT authors' wrapper
#: ``WrapedSNNOp`` calls its ``op`` alone in eval mode).
WRAPPERS = ("WrapedSNNOp",)

# Spike-function probe: which of these fire tells '>=' from '>' (both step at 0).
_PROBE = (-1.0, -1e-300, 0.0, 1e-300, 1.0)
_FIRES = {(0.0, 0.0, 1.0, 1.0, 1.0): ">=", (0.0, 0.0, 0.0, 1.0, 1.0): ">"}


def _torch():
    from chipsim.mapping.ottt_vgg import require_torch

    return require_torch("chipsim.mapping.from_torch")


def _array(tensor) -> np.ndarray:
    """A float64 numpy copy of a tensor or parameter (on any device, any float dtype)."""
    torch = _torch()
    return tensor.detach().to(device="cpu", dtype=torch.float64).numpy().copy()


def _scalar(value, at: str) -> float:
    """A python float from a float, a 0-d tensor or a tensor whose entries are all equal."""
    torch = _torch()
    if isinstance(value, torch.Tensor):
        flat = value.detach().to("cpu", torch.float64).reshape(-1)
        if flat.numel() == 0 or not bool(torch.all(flat == flat[0])):
            raise DataError(f"{at}: chipsim has one value per layer, got a tensor with "
                            f"{flat.numel()} different entries")
        return float(flat[0])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise DataError(f"{at}: expected a number, got {type(value).__name__}")


def _label(path: str, m) -> str:
    """How messages name a module: its path in the model and its class."""
    return f"from_torch: module '{path}' ({type(m).__name__})"


def _walk(module, prefix: str, seen: dict, out: list) -> None:
    """Leaves of ``module`` in registration order as (path, module); shared modules refused."""
    torch = _torch()
    children = [(name, child) for name, child in module._modules.items() if child is not None]
    kind = type(module).__name__
    is_leaf = (not children or isinstance(module, (torch.nn.Linear, torch.nn.Conv2d))
               or kind in OTTT_NEURONS or _neuron_family(module) is not None)
    if is_leaf:
        path = prefix or "top"
        if id(module) in seen:
            raise DataError(f"from_torch: module '{path}' is the same object as "
                            f"'{seen[id(module)]}'; chipsim needs each layer once in a chain "
                            "(a reused neuron would share its membrane)")
        seen[id(module)] = path
        out.append((path, module))
        return
    for name, child in children:
        _walk(child, f"{prefix}.{name}" if prefix else name, seen, out)


def _neuron_family(m) -> str | None:
    """'snntorch', 'spikingjelly', 'ottt' or None, by the module's class and where it lives."""
    kind, home = type(m).__name__, type(m).__module__
    if home.startswith("snntorch") and hasattr(m, "spike_grad"):
        return "snntorch"
    if home.startswith("spikingjelly") and hasattr(m, "v_threshold"):
        return "spikingjelly"
    if kind in OTTT_NEURONS:
        return "ottt"
    return None


def _firing(fn, at: str) -> str:
    """'>=' or '>', by calling the spike function ``fn`` on values around 0."""
    torch = _torch()
    probe = torch.tensor(_PROBE, dtype=torch.float64)
    try:
        with torch.no_grad():
            got = tuple(float(v) for v in fn(probe).detach().to("cpu", torch.float64).reshape(-1))
    except Exception as exc:  # a user's spike function may fail in any way
        raise DataError(f"{at}: calling its spike function on {list(_PROBE)} failed "
                        f"({type(exc).__name__}: {exc})") from None
    if got not in _FIRES:
        raise DataError(f"{at}: its spike function is not a unit step at 0 (on "
                        f"{list(_PROBE)} it gives {list(got)}); chipsim's neurons emit 0/1 "
                        "spikes when the membrane reaches the threshold")
    return _FIRES[got]


def leaky_neuron(beta: float, threshold: float, mechanism: str, firing: str = ">",
                 alpha: float = 0.0) -> Neuron:
    """chipsim's Neuron for an snnTorch Leaky (reset_delay=True, snnTorch's default), or a
    Synaptic with ``alpha`` (its synaptic current's decay: a CUBA neuron, tau_syn).

    lam = beta exactly (``tau_from_leak``), after Leaky's clamp of beta to [0, 1]; lam_syn =
    alpha likewise. 'subtract': snnTorch subtracts last step's spike after the leak, reset_at
    'next_step'. 'zero': snnTorch zeroes mem before the next leak, (1 - s) mem, the same as
    chipsim's v = u (1 - s) at the end of the step (with or without reset_delay).
    """
    tau = tau_from_leak(min(max(beta, 0.0), 1.0))
    tau_syn = tau_from_leak(min(max(alpha, 0.0), 1.0))
    if mechanism == "zero":
        return Neuron(tau, threshold, "zero", firing, "same_step", tau_syn)
    return Neuron(tau, threshold, "subtract", firing, "next_step", tau_syn)


def _rleaky_recurrence(m, at: str, shape: tuple, nn) -> tuple[np.ndarray, np.ndarray | None]:
    """(W_rec (n, n), its bias or None) of an snnTorch RLeaky after a layer whose weights have
    ``shape``: its recurrent nn.Linear, or one-to-one weights V on the diagonal."""
    if len(shape) != 2:
        raise DataError(f"{at}: an RLeaky after a conv layer; chipsim's recurrent layers are "
                        "dense")
    n = shape[0]
    if m.all_to_all:
        rec = m.recurrent
        if not isinstance(rec, nn.Linear) or tuple(rec.weight.shape) != (n, n):
            raise DataError(f"{at}: RLeaky's recurrent connection must be an nn.Linear({n}, "
                            f"{n}) (linear_features={n}), got {type(rec).__name__}")
        bias = None if rec.bias is None else rec.bias.detach().double().numpy()
        return rec.weight.detach().double().numpy(), bias
    v = m.recurrent.V.detach().double().numpy()
    return np.diag(np.broadcast_to(v, (n,)).copy()), None


def neuron_of(m, where: str) -> tuple[Neuron, float]:
    """(chipsim Neuron, input divisor) for a spiking neuron module; the divisor is tau where the
    neuron decays its input (v += (x - v) / tau), else 1: the preceding layer's weights and bias
    are divided by it."""
    family, kind, at = _neuron_family(m), type(m).__name__, _label(where, m)
    if family == "snntorch":
        if kind not in ("Leaky", "RLeaky", "Synaptic", "RSynaptic"):
            raise DataError(f"{at}: snnTorch {kind} is not supported; chipsim maps snnTorch "
                            "Leaky (first-order LIF), Synaptic (with a synaptic current) and "
                            "their recurrent forms RLeaky and RSynaptic")
        mechanism = getattr(m, "reset_mechanism", "subtract")
        synaptic = kind in ("Synaptic", "RSynaptic")
        if synaptic and mechanism != "subtract":
            raise DataError(f"{at}: snnTorch Synaptic with reset_mechanism {mechanism!r} also "
                            "zeroes its synaptic current at a spike; chipsim's CUBA neuron "
                            "keeps it, so only 'subtract' (snnTorch's default) maps")
        if mechanism not in ("subtract", "zero"):
            raise DataError(f"{at}: snnTorch Leaky reset_mechanism {mechanism!r} is not "
                            "supported; chipsim maps 'subtract' and 'zero'")
        if getattr(m, "inhibition", False) or getattr(m, "state_quant", False):
            raise DataError(f"{at}: snnTorch Leaky with inhibition or state_quant has no "
                            "chipsim equivalent; build it with both off")
        if _scalar(m.graded_spikes_factor, f"{at}: graded_spikes_factor") != 1.0:
            raise DataError(f"{at}: graded_spikes_factor must be 1 (chipsim spikes are 0/1)")
        if mechanism == "subtract" and not getattr(m, "reset_delay", True):
            raise DataError(f"{at}: snnTorch Leaky with reset_delay=False and subtract reset "
                            "subtracts again when the membrane stays above threshold; chipsim "
                            "has no such neuron. Use reset_delay=True (snnTorch's default)")
        alpha = _scalar(m.alpha, f"{at}: alpha") if synaptic else 0.0
        return leaky_neuron(_scalar(m.beta, f"{at}: beta"),
                            _scalar(m.threshold, f"{at}: threshold"), mechanism,
                            _firing(m.spike_grad, at), alpha), 1.0
    if family in ("spikingjelly", "ottt"):
        name = f"SpikingJelly {kind}" if family == "spikingjelly" else kind
        if kind not in LIF_NODES + IF_NODES:
            raise DataError(f"{at}: {name} is not supported; chipsim maps SpikingJelly "
                            f"{', '.join(LIF_NODES[:3] + IF_NODES[:1])} and the OTTT authors' "
                            "OnlineLIFNode/OnlineIFNode")
        threshold = _scalar(m.v_threshold, f"{at}: v_threshold")
        v_reset = m.v_reset
        if v_reset is None:
            reset = "subtract"
        elif _scalar(v_reset, f"{at}: v_reset") == 0.0:
            reset = "zero"
        else:
            raise DataError(f"{at}: v_reset {v_reset} is not supported; chipsim resets by "
                            "subtraction (v_reset None) or to zero (v_reset 0.0)")
        fn = getattr(m, "surrogate_function", None)
        firing = _firing(fn, at) if fn is not None else ">="
        if kind in IF_NODES:
            return Neuron(math.inf, threshold, reset, firing, "same_step"), 1.0
        tau = _scalar(m.tau, f"{at}: tau")
        if not tau > 1.0:
            raise DataError(f"{at}: tau must be > 1, got {tau}")
        return (Neuron(tau, threshold, reset, firing, "same_step"),
                tau if getattr(m, "decay_input", False) else 1.0)
    raise DataError(f"{at} is not a neuron chipsim knows")


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


def _synaptic(m, where: str, shape: tuple, nn):
    """(layer, weight, bias) for a Linear or Conv2d (plain or weight-standardized)."""
    kind, at = type(m).__name__, _label(where, m)
    if kind in WS_LAYERS:
        from chipsim.mapping.ottt_vgg import standardized_weight

        eps = _scalar(getattr(m, "eps", None), f"{at}: eps")
        gain = None if m.gain is None else m.gain.detach().double()
        with _torch().no_grad():
            weight = _array(standardized_weight(m.weight.detach().double(), gain, eps))
    elif (type(m).forward not in (nn.Linear.forward, nn.Conv2d.forward)
          and not type(m).__module__.startswith(SJ_LAYERS)):
        parent = "Linear" if isinstance(m, nn.Linear) else "Conv2d"
        raise DataError(f"{at}: {kind} subclasses {parent} but overrides forward; chipsim cannot "
                        f"tell what it computes. Supported: {SUPPORTED}")
    else:
        weight = _array(m.weight)
    bias = None if m.bias is None else _array(m.bias)
    if isinstance(m, nn.Linear):
        return None, weight, bias  # the caller builds the Dense (it may flatten first)
    if m.groups != 1 or _pair(m.dilation) != (1, 1):
        raise DataError(f"{at}: Conv2d with groups={m.groups}, dilation={m.dilation}; chipsim "
                        "maps groups=1 and dilation=1 only")
    if m.padding_mode != "zeros":
        raise DataError(f"{at}: Conv2d padding_mode {m.padding_mode!r}; chipsim pads with zeros")
    if len(shape) != 3:
        raise DataError(f"{at}: Conv2d needs (C, H, W) activity, got shape {shape}; give "
                        "from_torch an input_shape (C, H, W)")
    kernel, stride = _pair(m.kernel_size), _pair(m.stride)
    padding = m.padding
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        if stride != (1, 1) or kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
            raise DataError(f"{at}: padding='same' with stride {stride}, kernel {kernel}; "
                            "chipsim maps it for stride 1 and odd kernels only")
        padding = (kernel[0] // 2, kernel[1] // 2)
    padding = _pair(padding)
    if m.in_channels != shape[0]:
        raise DataError(f"{at}: Conv2d has in_channels={m.in_channels} but its input is "
                        f"{shape} (C, H, W)")
    layer = Conv2d(where, tuple(shape), m.out_channels, kernel, stride, padding)
    if min(layer.out_shape[1:]) < 1:
        raise DataError(f"{at}: Conv2d on {shape} gives an empty map {layer.out_shape}")
    return layer, weight, bias


def _pool(m, where: str, shape: tuple, nn) -> Pool2d:
    at = _label(where, m)
    if len(shape) != 3:
        raise DataError(f"{at}: pooling needs (C, H, W) activity, got shape {shape}")
    c, h, w = shape
    if isinstance(m, nn.AdaptiveAvgPool2d):
        size = m.output_size
        oh, ow = (size, size) if isinstance(size, int) else size
        oh, ow = (h if oh is None else oh), (w if ow is None else ow)
        if h % oh or w % ow:
            raise DataError(f"{at}: AdaptiveAvgPool2d({m.output_size}) on a {h}x{w} map has "
                            "unequal windows; chipsim maps it when the map divides evenly")
        k = (h // oh, w // ow)
        return Pool2d(where, shape, k, k, "avg")
    kernel = _pair(m.kernel_size)
    stride = kernel if m.stride is None else _pair(m.stride)
    if _pair(m.padding) != (0, 0) or m.ceil_mode or m.divisor_override is not None:
        raise DataError(f"{at}: AvgPool2d with padding, ceil_mode or divisor_override; chipsim "
                        "maps plain windows (padding 0, ceil_mode False)")
    pool = Pool2d(where, shape, kernel, stride, "avg")
    if min(pool.out_shape[1:]) < 1:
        raise DataError(f"{at}: AvgPool2d{kernel} on {shape} gives an empty map")
    return pool


def from_torch(module, input_shape) -> Network:
    """The Network a torch module computes, for input of ``input_shape`` (no batch dimension).

    ``input_shape``: an int or (n,) for vectors, (C, H, W) for images. Every layer is named by
    its module path (the state_dict prefix, e.g. 'features.0'). Raises DataError naming the
    module path for anything chipsim cannot represent exactly. See the module docstring for
    the mapping and the assumption on forward order.
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise DataError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    if not shape or len(shape) not in (1, 3) or not all(
            isinstance(v, (int, np.integer)) and v > 0 for v in shape):
        raise DataError(f"from_torch: input_shape must be n, (n,) or (C, H, W) with positive "
                        f"integers, got {input_shape!r}")
    shape = in_shape = tuple(int(v) for v in shape)
    leaves: list = []
    _walk(module, "", {}, leaves)

    layers, weights, biases, neurons, recurrent = [], {}, {}, {}, set()
    pending = None      # name of a synaptic layer that has no neuron yet
    scale = 1.0         # a pending Scale on the activity, folded into the next synaptic layer
    for where, m in leaves:
        kind, at = type(m).__name__, _label(where, m)
        if kind in WRAPPERS:
            raise DataError(f"{at} has no 'op' child to unwrap")
        if isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        if kind == "Scale" and hasattr(m, "scale"):
            factor = _scalar(m.scale, f"{at}: scale")
            if pending is not None:   # scaling currents before a neuron: weights and bias
                weights[pending] = weights[pending] * factor
                if pending in biases:
                    biases[pending] = biases[pending] * factor
            else:
                scale *= factor
            continue
        if _neuron_family(m) is not None:
            if pending is None:
                raise DataError(f"{at}: a neuron module does not follow a synaptic layer "
                                "(Linear or Conv2d, with only Dropout/Identity/Scale between); "
                                "chipsim's neurons sit behind synaptic layers")
            neuron, divisor = neuron_of(m, where)
            if divisor != 1.0:      # decay_input: the neuron sees x / tau
                weights[pending] = weights[pending] / divisor
                if pending in biases:
                    biases[pending] = biases[pending] / divisor
            neurons[pending] = neuron
            if kind in ("RLeaky", "RSynaptic"):  # its recurrence joins the layer before
                weights[pending], bias = with_recurrence(
                    weights[pending], biases.get(pending),
                    *_rleaky_recurrence(m, at, weights[pending].shape, nn))
                biases.pop(pending, None)
                if bias is not None and np.any(bias):  # a zero bias is no bias
                    biases[pending] = bias
                recurrent.add(pending)
            pending = None
            continue
        if pending is not None:
            raise DataError(f"{at} follows synaptic layer '{pending}' that has no neuron "
                            "module; a synaptic layer without a neuron is the non-spiking read-out "
                            "and must be the last layer")
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            layer, w, b = _synaptic(m, where, shape, nn)
            if layer is None:  # Linear
                if len(shape) == 3:
                    if m.in_features != math.prod(shape):
                        raise DataError(f"{at}: Linear has in_features={m.in_features} but its "
                                        f"input is {shape} ({math.prod(shape)} values flattened)")
                    layers.append(Flatten(f"{where}.flatten", shape))
                    shape = (math.prod(shape),)
                if m.in_features != shape[0]:
                    raise DataError(f"{at}: Linear has in_features={m.in_features} but its "
                                    f"input has {shape[0]} values")
                layer = Dense(where, shape[0], m.out_features)
            weights[where] = w * scale
            scale = 1.0
            if b is not None and np.any(b):   # a zero bias is no bias (adding 0.0: no change)
                biases[where] = b
            layers.append(layer)
            shape = layer.out_shape if layer.kind == "conv2d" else (layer.n_out,)
            pending = where
        elif isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            pool = _pool(m, where, shape, nn)
            layers.append(pool)
            shape = pool.out_shape
        elif isinstance(m, nn.Flatten):
            if len(shape) == 3:
                if m.start_dim != 1 or m.end_dim != -1:
                    raise DataError(f"{at}: Flatten(start_dim={m.start_dim}, end_dim="
                                    f"{m.end_dim}); chipsim flattens (C, H, W) whole (1, -1)")
                layers.append(Flatten(where, shape))
                shape = (math.prod(shape),)
        elif isinstance(m, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
            raise DataError(f"{at} is not linear; chipsim pools by average or sum "
                            "(replace it by nn.AvgPool2d and retrain)")
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            raise DataError(f"{at} is not mapped; fold it into the preceding layer's "
                            "weights and bias before import")
        else:
            raise DataError(f"{at} is not supported. Supported: {SUPPORTED}")

    synaptic = [layer for layer in layers if layer.kind in ("dense", "conv2d")]
    if not synaptic:
        raise DataError("from_torch: the module has no Linear or Conv2d layer")
    if layers[-1].kind not in ("dense", "conv2d"):
        raise DataError(f"from_torch: the module ends with '{layers[-1].name}' "
                        f"({layers[-1].kind}); chipsim's output is the last synaptic layer")
    if scale != 1.0:
        raise DataError(f"from_torch: a Scale({scale}) after the last synaptic layer has no "
                        "layer to fold into")
    spiking = [neurons[layer.name] for layer in synaptic if layer.name in neurons]
    default = spiking[0] if spiking else Neuron()
    final = []
    for layer in layers:
        if layer.kind in ("dense", "conv2d"):
            nrn = neurons.get(layer.name)
            is_spiking = nrn is not None
            own = nrn if is_spiking and nrn != default else None
            if layer.kind == "dense":
                layer = Dense(layer.name, layer.n_in, layer.n_out, is_spiking, own,
                              layer.name in recurrent)
            else:
                layer = Conv2d(layer.name, layer.in_shape, layer.out_channels, layer.kernel,
                               layer.stride, layer.padding, is_spiking, own)
        final.append(layer)
    return Network(math.prod(in_shape), tuple(final), default, weights, biases)


# --- state_dict files --------------------------------------------------------------------

#: Keys under which training scripts nest a state_dict in a checkpoint dict.
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net")


def _load_state_dict(path: Path) -> dict:
    torch = _torch()
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        needs = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if needs:
            raise DataError(
                f"torch file '{path}' holds Python objects that only pickle can rebuild (first: "
                f"{needs.group(1)}), e.g. torch.save of a whole module. chipsim never unpickles "
                "user files (torch.load weights_only=True); save the parameters only, "
                "torch.save(model.state_dict(), path), and put the architecture .yaml beside "
                "it") from None
        detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(exc))
        raise DataError(f"torch file '{path}' is not a readable torch.save file (loading it "
                        f"without pickle failed: {detail.group(1) if detail else 'unknown'})"
                        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # a damaged file makes torch's unpickler fail in many ways
        raise DataError(f"torch file '{path}' is not a readable torch.save file "
                        f"({type(exc).__name__}: {exc})") from None
    if not isinstance(loaded, dict):
        raise DataError(f"torch file '{path}' holds a {type(loaded).__name__}, not a state_dict "
                        "(save it with torch.save(model.state_dict(), path))")
    if not any(isinstance(v, torch.Tensor) for v in loaded.values()):
        for key in NESTED_KEYS:
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    tensors = {k: v for k, v in loaded.items()
               if isinstance(k, str) and isinstance(v, torch.Tensor)}
    # a tensor's size, not its file's: an expanded (stride-0) tensor of a few bytes on disk
    # can stand for gigabytes once copied into an array
    require(8 * sum(t.numel() for t in tensors.values()),
            f"torch file '{path}' (its tensors as float64 arrays)",
            "use a smaller file, or save contiguous tensors of the model's size")
    if not tensors:
        raise DataError(f"torch file '{path}' holds no tensors keyed by name (keys: "
                        f"{', '.join(map(str, list(loaded)[:10])) or 'none'}); expected a "
                        "state_dict")
    return tensors


#: What snnTorch's Leaky puts in its state_dict (snnTorch 1.0.0; buffers, or parameters when
#: learnable). A module whose keys include 'beta' is read as an snnTorch neuron module.
LEAKY_KEYS = ("beta", "threshold", "graded_spikes_factor", "reset_mechanism_val")
#: A Synaptic adds its synaptic current's decay.
SYNAPTIC_KEYS = LEAKY_KEYS + ("alpha",)
#: snnTorch's SpikingNeuron.reset_dict, inverted: reset_mechanism_val -> reset_mechanism.
RESET_MECHANISMS = {0: "subtract", 1: "zero", 2: "none"}


def _neuron_modules(tensors: dict) -> dict[str, dict]:
    """{module prefix: {parameter: tensor}} for each snnTorch neuron module (a prefix with a
    'beta' key), in the file's order."""
    split = {key: key.rpartition(".") for key in tensors}
    prefixes = [prefix for prefix, _, leaf in split.values() if leaf == "beta"]
    return {prefix: {leaf: tensors[key] for key, (p, _, leaf) in split.items() if p == prefix}
            for prefix in prefixes}


def _owners(arch: dict, layers: list, modules: dict, keys: list, where: str) -> dict[str, str]:
    """{layer name: neuron module prefix}: a layer spec's ``neuron_module``, else the synaptic
    layer whose keys come last before the module's first key (the state_dict's order is the
    modules' registration order: fc1.weight, fc1.bias, lif1.beta, ... puts lif1 after fc1)."""
    synaptic = {layer.name for layer in layers if layer.kind in ("dense", "conv2d")}
    owner: dict[str, str] = {}   # module -> layer
    for i, spec in enumerate(arch["layers"]):
        if not (isinstance(spec, dict) and "neuron_module" in spec):
            continue
        module, name = str(spec["neuron_module"]), str(spec.get("name"))
        at = f"{where}: layers[{i}] ('{name}')"
        if name not in synaptic:
            raise DataError(f"{at}: neuron_module is for dense and conv2d layers")
        if module not in modules:
            raise DataError(f"{at}: neuron_module '{module}' has no '{module}.beta' in the "
                            f"file; neuron modules found: {', '.join(modules) or 'none'}")
        if module in owner:
            raise DataError(f"{at}: neuron_module '{module}' is also given to layer "
                            f"'{owner[module]}'; each neuron module belongs to one layer")
        owner[module] = name
    layer_of_key = {key: name for name in synaptic
                    for key in (name, f"{name}.weight", f"{name}.bias")}
    for module, params in modules.items():
        if module in owner:
            continue
        first = keys.index(f"{module}.{next(iter(params))}")
        before = [layer_of_key[k] for k in keys[:first] if k in layer_of_key]
        if not before:
            raise DataError(f"{where}: neuron module '{module}' comes before every synaptic "
                            "layer's weights in the file, so chipsim cannot tell which layer "
                            f"it belongs to; add neuron_module: {module} to that layer in "
                            "the architecture")
        owner[module] = before[-1]
    by_layer: dict[str, str] = {}
    for module, name in owner.items():
        if name in by_layer:
            raise DataError(f"{where}: neuron modules '{by_layer[name]}' and '{module}' both "
                            f"belong to layer '{name}' (by the file's order or neuron_module); "
                            "give each spiking layer its own with neuron_module: <prefix>")
        by_layer[name] = module
    return by_layer


def _layer_value(t, key: str, layer, where: str) -> float:
    """The one value of a neuron parameter tensor: 0-d, or per neuron with all values equal."""
    torch = _torch()
    flat = t.detach().to("cpu", torch.float64).reshape(-1)
    at = f"{where}: '{key}' (the neurons of layer '{layer.name}')"
    if flat.numel() not in (1, layer.n_out) or not bool(torch.all(torch.isfinite(flat))):
        raise DataError(f"{at} has {flat.numel()} values; expected one, or one per neuron "
                        f"({layer.n_out}), all finite")
    lo, hi = float(flat.min()), float(flat.max())
    if lo != hi:
        raise DataError(f"{at} holds {int(torch.unique(flat).numel())} different values (from "
                        f"{lo!r} to {hi!r}); chipsim's neuron parameters are one per layer, so "
                        "a per-neuron tensor must hold one value in all its entries")
    return lo


def _snntorch_neuron(module: str, params: dict, layer, where: str) -> Neuron:
    """The Neuron of layer ``layer`` from snnTorch Leaky's state_dict entries ``params``.

    A state_dict cannot show the spike function or reset_delay: snnTorch's defaults are
    assumed (spike on mem - threshold > 0, i.e. firing '>'; reset_delay=True)."""
    extra = sorted(set(params) - set(SYNAPTIC_KEYS))
    if extra:
        raise DataError(f"{where}: neuron module '{module}' (of layer '{layer.name}') has "
                        f"{', '.join(repr(f'{module}.{k}') for k in extra)}; chipsim reads "
                        f"snnTorch Leaky's {', '.join(LEAKY_KEYS)} and Synaptic's alpha "
                        "(other snnTorch neurons are not supported)")
    value = lambda k, default: (default if k not in params  # noqa: E731
                                else _layer_value(params[k], f"{module}.{k}", layer, where))
    code = value("reset_mechanism_val", 0.0)
    mechanism = RESET_MECHANISMS.get(int(code)) if code == int(code) else None
    if mechanism not in ("subtract", "zero"):
        raise DataError(f"{where}: '{module}.reset_mechanism_val' is {code!r} "
                        f"({mechanism or 'unknown'}); chipsim maps snnTorch's 0 ('subtract') "
                        "and 1 ('zero')")
    factor = value("graded_spikes_factor", 1.0)
    if factor != 1.0:
        raise DataError(f"{where}: '{module}.graded_spikes_factor' is {factor!r}; chipsim's "
                        "spikes are 0/1, so it must be 1 (snnTorch's default)")
    if "alpha" in params and mechanism != "subtract":
        raise DataError(f"{where}: '{module}' is an snnTorch Synaptic with reset 'zero', which "
                        "also zeroes its synaptic current at a spike; chipsim's CUBA neuron "
                        "keeps it, so only 'subtract' (snnTorch's default) maps")
    return leaky_neuron(value("beta", None), value("threshold", 1.0), mechanism,
                        alpha=value("alpha", 0.0))


def _with_file_neurons(network: Network, arch: dict, tensors: dict, modules: dict,
                       where: str) -> Network:
    """``network`` with the neurons of the state_dict's snnTorch neuron modules on their layers;
    the network's default neuron becomes the first spiking layer's (as from_torch does)."""
    owners = _owners(arch, list(network.layers), modules, list(tensors), where)
    specs = {str(spec.get("name")): spec for spec in arch["layers"] if isinstance(spec, dict)}
    layers = []
    for layer in network.layers:
        module = owners.get(layer.name)
        if module is not None:
            if not layer.spiking:
                raise DataError(f"{where}: layer '{layer.name}' is the read-out (neuron: "
                                f"readout) in the architecture, but neuron module '{module}' "
                                "follows it in the file; a Leaky after the last Linear makes "
                                "a spiking output layer: drop 'neuron: readout'")
            if isinstance(specs[layer.name].get("neuron"), dict):
                raise DataError(f"{where}: layer '{layer.name}' has a neuron in the "
                                f"architecture and neuron module '{module}' in the file; give "
                                "it in one place (the file's is what the network was trained "
                                "with)")
            layer = dataclasses.replace(
                layer, neuron=_snntorch_neuron(module, modules[module], layer, where))
        layers.append(layer)
    effective = [network.neuron_of(layer) for layer in layers
                 if layer.kind in ("dense", "conv2d") and layer.spiking]
    default = effective[0] if effective else network.neuron
    layers = [dataclasses.replace(layer, neuron=None if network.neuron_of(layer) == default
                                  else network.neuron_of(layer))
              if layer.kind in ("dense", "conv2d") else layer for layer in layers]
    return dataclasses.replace(network, layers=tuple(layers), neuron=default)


def _with_file_recurrences(arch: dict, arrays: dict, modules: dict, keys: list,
                           where: str) -> dict:
    """The architecture with ``recurrent: true`` on each layer whose snnTorch neuron module is
    an RLeaky (``<module>.recurrent.weight`` in the file), whose weight in ``arrays`` becomes
    [W | W_rec] and its bias the sum of both (``arrays`` is changed in place)."""
    from types import SimpleNamespace

    recurrent = {m for m in modules if f"{m}.recurrent.weight" in arrays}
    if not recurrent:
        return arch
    specs = [s for s in arch["layers"] if isinstance(s, dict)]
    stand_ins = [SimpleNamespace(name=str(s.get("name")), kind=s.get("type")) for s in specs]
    owners = {m: layer for layer, m in _owners(arch, stand_ins, modules, keys, where).items()}
    layers = []
    for spec in arch["layers"]:
        spec = dict(spec)
        module = next((m for m in recurrent if owners.get(m) == spec.get("name")), None)
        if module is not None:
            name = str(spec["name"])
            key = f"{name}.weight" if f"{name}.weight" in arrays else name
            w_rec = arrays.pop(f"{module}.recurrent.weight")
            b_rec = arrays.pop(f"{module}.recurrent.bias", None)
            if spec.get("type") != "dense" or key not in arrays or \
                    w_rec.shape != (arrays[key].shape[0],) * 2:
                raise DataError(f"{where}: RLeaky '{module}' follows layer '{name}', which "
                                "must be dense, with a square recurrent weight of its size "
                                f"(got '{module}.recurrent.weight' {w_rec.shape})")
            bias_key = f"{name}.bias"
            arrays[key], bias = with_recurrence(arrays[key], arrays.get(bias_key), w_rec, b_rec)
            if bias is not None:
                arrays[bias_key] = bias
            spec["recurrent"] = True
        layers.append(spec)
    return {**arch, "layers": layers}


def read_torch_file(path: str | Path) -> Network:
    """The Network in a torch state_dict ``path`` and the architecture ``<stem>.yaml`` beside it.

    Weights are looked up as ``<layer>.weight`` (or ``<layer>``) and ``<layer>.bias``; dense
    (out, in), conv2d (out, in, kh, kw), biases (out,) / (out_channels,); an all-zero bias is
    dropped, as ``from_torch`` does. A layer whose
    state_dict entry carries more than weight and bias (e.g. ``gain`` of a weight-standardized
    layer) is refused, since its stored weight is not what it computes. Neurons come from the
    YAML, except where the file holds snnTorch neuron modules (``lif1.beta``, ...): each sets
    the neuron of the synaptic layer before it in the file, or of the layer whose spec says
    ``neuron_module: lif1`` (``docs/torch.md``, "snnTorch neurons in a state_dict")."""
    from chipsim.mapping.architecture import build_from_architecture, read_architecture

    path = Path(path)
    _torch()
    if not path.is_file():
        raise DataError(f"torch file '{path}' not found")
    arch = read_architecture(path.with_suffix(".yaml"))
    tensors = _load_state_dict(path)
    modules = _neuron_modules(tensors)
    neuron_keys = {f"{m}.{k}" for m, params in modules.items() for k in params}
    arrays, problems = {}, []
    for key, t in tensors.items():
        if key in neuron_keys:
            continue  # read below, by _with_file_neurons
        if not (t.is_floating_point() or t.is_complex()):
            continue  # counters such as num_batches_tracked
        if t.is_complex() or t.layout != _torch().strided:
            problems.append(f"'{key}' is a {t.dtype} {t.layout} tensor, not a dense real one")
            continue
        arrays[key] = _array(t)
    if problems:
        raise DataError(f"torch file '{path}': " + "; ".join(problems))
    arch = _with_file_recurrences(arch, arrays, modules, list(tensors), f"torch file '{path}'")
    network = build_from_architecture(arch, arrays, str(path), standardized_run=False,
                                      neuron_modules=True)
    network = _with_file_neurons(network, arch, tensors, modules, f"torch file '{path}'")
    zero = [name for name, b in network.biases.items() if b.size and not np.any(b)]
    for layer in network.layers:
        if layer.kind not in ("dense", "conv2d"):
            continue
        extra = sorted(k for k in arrays if k.startswith(f"{layer.name}.")
                       and k not in (f"{layer.name}.weight", f"{layer.name}.bias"))
        if extra:
            raise DataError(f"torch file '{path}': layer '{layer.name}' has parameters "
                            f"{', '.join(repr(k) for k in extra)} besides weight and bias; its "
                            "weight alone is not what it computes (a weight-standardized "
                            "layer's gain, a weight_norm split). Import the module with "
                            "chipsim.mapping.from_torch.from_torch instead, which folds them")
        key = f"{layer.name}.bias"
        if key in arrays:
            want = (layer.n_out,) if layer.kind == "dense" else (layer.out_channels,)
            b = arrays[key]
            if b.shape != want:
                raise DataError(f"torch file '{path}': '{key}' has shape {b.shape}, layer "
                                f"'{layer.name}' needs {want}")
            if not np.all(np.isfinite(b)):
                raise DataError(f"torch file '{path}': '{key}' holds NaN or inf")
    if zero:  # a zero bias is no bias (adding 0.0 changes no result)
        biases = {k: v for k, v in network.biases.items() if k not in zero}
        network = dataclasses.replace(network, biases=biases)
    return network
