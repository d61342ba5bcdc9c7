"""The hardware-agnostic network description every importer produces: layers and float weights.

A network is data: frozen dataclasses holding sizes, neuron parameters and float64 weights.
Layers form a chain, input side first: ``Dense`` and ``Conv2d`` are synaptic layers with a
population of neurons behind them (spiking, or a non-spiking read-out); ``Pool2d`` (average or
sum pooling) and ``Flatten`` are linear reshaping steps without neurons. Dense weights are
(out, in); conv weights (out_channels, in_channels, kh, kw); activity is (C, H, W) flattened
in C order. Simulators (float64 reference, the chip) and the mapper take it and run.
"""
from __future__ import annotations

import math
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chipsim.errors import DataError
from chipsim.memory_budget import require
from chipsim.seeding import stream


@dataclass(frozen=True)
class Neuron:
    """Leaky integrate-and-fire neuron, discrete time, no input decay, rest level 0.

    chipsim's convention (the OTTT paper's):
      u[t] = lam * v[t-1] + I[t],  lam = 1 - 1/tau   (charge)
      s[t] = 1 if u[t] >= threshold                  (fire; a tie fires)
      v[t] = u[t] - threshold * s[t]                 (reset 'subtract'), or u[t] (1 - s[t]) ('zero')
    Options that other simulators use (and their NIR exports imply): ``firing='>'`` (a tie
    does not fire), ``reset_at='next_step'`` (snnTorch: the subtraction joins the next step's
    charge after the leak, u[t] = lam u[t-1] + I[t] - threshold s[t-1]). ``tau = inf`` is an
    IF neuron (lam = 1). The presynaptic trace decays with the same lam: a = lam a + s.
    ``tau_syn > 1`` adds a synaptic current with its own decay (a CUBA neuron: Loihi's, NIR's
    CubaLIF, snnTorch's Synaptic): I[t] = lam_syn I[t-1] + W x[t] (+ b), lam_syn = 1 -
    1/tau_syn, and the membrane integrates I[t]; tau_syn = 1 (lam_syn = 0) is no filter.
    """

    tau: float = 2.0
    threshold: float = 1.0
    reset: str = "subtract"
    firing: str = ">="
    reset_at: str = "same_step"
    tau_syn: float = 1.0

    @property
    def leak(self) -> float:
        """lam = 1 - 1/tau, the per-step decay of membrane and trace (dimensionless)."""
        return 1.0 - 1.0 / self.tau

    @property
    def syn_leak(self) -> float:
        """lam_syn = 1 - 1/tau_syn, the per-step decay of the synaptic current (0: none)."""
        return 1.0 - 1.0 / self.tau_syn


def tau_from_leak(leak: float) -> float:
    """tau such that chipsim's leak 1 - 1/tau equals ``leak`` exactly in float64, if one exists.

    Importers get a leak (snnTorch's beta, a NIR file's 1 - dt/tau) and chipsim stores tau;
    1 / (1 - leak) can miss by an ulp, so its neighbours within 8 ulps are tried. Not every
    float64 leak is 1 - 1/x for a float64 x; then the plain value is kept (off by <= 2.2e-16).
    leak >= 1 is an IF neuron (tau = inf).
    """
    if leak >= 1.0:
        return math.inf
    tau = 1.0 / (1.0 - leak)
    candidate = tau
    for _ in range(8):
        for c in (candidate, 2 * tau - candidate):
            if 1.0 - 1.0 / c == leak:
                return c
        candidate = math.nextafter(candidate, math.inf)
    return tau


@dataclass(frozen=True)
class Dense:
    """A fully connected layer of ``n_out`` neurons with ``n_in`` inputs; spiking or read-out.

    ``neuron`` overrides the network's neuron model for this layer (None: the network's).
    ``recurrent``: the layer's own spikes of the previous step feed back, u[t] = lam v[t-1]
    + W x[t] + W_rec s[t-1]; its weights are [W | W_rec], (n_out, n_in + n_out)."""

    name: str
    n_in: int
    n_out: int
    spiking: bool = True
    neuron: Neuron | None = None
    recurrent: bool = False
    kind = "dense"


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def map_shape(in_shape, channels, kernel, stride, padding) -> tuple[int, int, int]:
    """(channels, H', W') of a kernel sliding over a (C, H, W) map."""
    _, h, w = in_shape
    return (channels, conv_output_size(h, kernel[0], stride[0], padding[0]),
            conv_output_size(w, kernel[1], stride[1], padding[1]))


@dataclass(frozen=True)
class Conv2d:
    """A 2-D convolution (cross-correlation, as torch) with neurons behind every output.

    in_shape (C, H, W); weights (out_channels, C, kh, kw); no dilation or groups."""

    name: str
    in_shape: tuple[int, int, int]
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    spiking: bool = True
    neuron: Neuron | None = None
    kind = "conv2d"
    recurrent = False

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return map_shape(self.in_shape, self.out_channels, self.kernel, self.stride, self.padding)

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_shape[0], *self.kernel)


@dataclass(frozen=True)
class Pool2d:
    """Average or sum pooling of (C, H, W) activity; linear, no neurons, no parameters."""

    name: str
    in_shape: tuple[int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    mode: str = "avg"          # 'avg' or 'sum'
    padding: tuple[int, int] = (0, 0)
    kind = "pool2d"
    spiking = False
    recurrent = False

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return map_shape(self.in_shape, self.in_shape[0], self.kernel, self.stride, self.padding)

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))


@dataclass(frozen=True)
class Flatten:
    """(C, H, W) activity read as a vector (C order); nothing happens on chip."""

    name: str
    in_shape: tuple[int, ...]
    kind = "flatten"
    spiking = False
    recurrent = False

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    n_out = n_in


SYNAPTIC = ("dense", "conv2d")


@dataclass(frozen=True)
class Network:
    """Layers (input side first), the default neuron model and float64 parameters.

    ``weights[name]``: dense (n_out, n_in), conv (out_channels, in_channels, kh, kw);
    ``biases[name]``: dense (n_out,), conv (out_channels,); absent when there is none.
    ``raw[name]`` (as weights) and ``gain[name]`` (out,): what a run with weight
    standardization trains (weights file keys '<name>.raw', '<name>.gain'); only training with
    standardization reads them. ``weights`` are always what the network computes.
    """

    n_inputs: int
    layers: tuple  # Dense | Conv2d | Pool2d | Flatten
    neuron: Neuron = Neuron()
    weights: dict = field(default_factory=dict)
    biases: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)
    gain: dict = field(default_factory=dict)

    def __repr__(self) -> str:  # the layers, not every weight
        layers = ", ".join(f"{l.name} {l.kind} {l.n_out}" + (" +bias" if l.name in self.biases
                                                              else "") for l in self.layers)
        params = sum(w.size for w in self.weights.values()) + sum(
            b.size for b in self.biases.values())
        return f"Network({self.n_inputs} inputs: {layers}; {params} parameters)"

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def synaptic(self) -> list:
        """The synaptic layers (dense, conv2d), input side first: those with weights."""
        return [layer for layer in self.layers if layer.kind in SYNAPTIC]

    @property
    def chain(self) -> list[tuple]:
        """Per synaptic layer: (layer, the pooling/flatten steps applied to its input)."""
        out, prefix = [], []
        for layer in self.layers:
            if layer.kind in SYNAPTIC:
                out.append((layer, tuple(prefix)))
                prefix = []
            else:
                prefix.append(layer)
        return out

    @property
    def recurrent(self) -> list[str]:
        """Names of the recurrent layers."""
        return [layer.name for layer in self.layers if layer.recurrent]

    @property
    def is_dense_chain(self) -> bool:
        """Only Dense layers (what the simulators run today; conv layers map but do not run)."""
        return all(layer.kind == "dense" for layer in self.layers)

    def neuron_of(self, layer) -> Neuron:
        return layer.neuron if getattr(layer, "neuron", None) is not None else self.neuron


def with_recurrence(w: np.ndarray, bias, w_rec: np.ndarray, b_rec):
    """(weights, bias) of a recurrent dense layer from its input synapses (w, bias) and its
    recurrent ones (w_rec, b_rec): [W | W_rec], and the two biases summed, since both add to
    the same current every step (None when neither has one)."""
    if b_rec is not None:
        bias = b_rec if bias is None else bias + b_rec
    return np.hstack([w, w_rec]), bias


def param_shape(layer) -> tuple:
    """Weight shape of a synaptic layer: dense (out, in), conv (out, in, kh, kw); a recurrent
    dense layer (out, in + out): [W | W_rec]."""
    if layer.kind == "conv2d":
        return layer.weight_shape
    return (layer.n_out, layer.n_in + (layer.n_out if layer.recurrent else 0))


def fan_in(layer) -> int:
    return math.prod(param_shape(layer)[1:])


def build_network(n_inputs: int, layers: list, neuron: Neuron, bias: bool, seed: int,
                  gain: float = 1.0, weights_file: str | None = None) -> Network:
    """Network of ``layers`` with weights from ``weights_file`` or seeded.

    Seeded init: W ~ U(-b, b) with b = gain * sqrt(3 / fan_in), i.e. variance gain^2 / fan_in
    (fan_in = inputs of a dense neuron, in_channels x kh x kw of a conv one); biases start at
    0. A recurrent layer's W and W_rec each take their own fan-in (inputs, units), as two
    separate linear layers do (snnTorch's RLeaky, torch's RNN). Each synaptic layer draws from
    its own stream, so layers do not shift each other.
    """
    synaptic = [layer for layer in layers if layer.kind in SYNAPTIC]
    raw, gains = {}, {}  # a standardized run's raw weights and gains (``gain`` is the init's)
    if weights_file is not None:
        weights, biases, raw, gains = load_weights(weights_file, synaptic, bias)
    else:
        weights, biases = {}, {}
        for i, layer in enumerate(synaptic):
            if layer.recurrent:  # W and W_rec, each by its own fan-in
                w = stream(seed, "init", i).uniform(-1.0, 1.0, param_shape(layer))
                w[:, :layer.n_in] *= gain * math.sqrt(3.0 / layer.n_in)
                w[:, layer.n_in:] *= gain * math.sqrt(3.0 / layer.n_out)
            else:
                bound = gain * math.sqrt(3.0 / fan_in(layer))
                w = stream(seed, "init", i).uniform(-bound, bound, param_shape(layer))
            weights[layer.name] = w
            if bias:
                biases[layer.name] = np.zeros(param_shape(layer)[0])
    return Network(n_inputs, tuple(layers), neuron, weights, biases, raw, gains)


def load_weights(path: str | Path, layers: list, bias: bool):
    """Read an npz keyed by layer name (weights as ``param_shape``; biases ``<name>.bias``).

    Returns (weights, biases, raw, gain), the last two as ``reparameterization`` reads them
    (empty unless a run with weight standardization wrote the file)."""
    arrays = read_npz(path, "weights file")
    weights, biases, problems = {}, {}, []
    for layer in layers:
        expect = {layer.name: param_shape(layer)}
        if bias:
            expect[f"{layer.name}.bias"] = (param_shape(layer)[0],)
        for key, shape in expect.items():
            if key not in arrays:
                problems.append(f"missing array '{key}' of shape {shape}")
                continue
            a = arrays[key]
            if a.shape != shape:
                problems.append(f"array '{key}' has shape {a.shape}, layer needs {shape}")
            elif not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a) \
                    or not np.all(np.isfinite(a)):
                problems.append(f"array '{key}' holds NaN, inf, complex or non-numbers")
            else:
                (biases if key.endswith(".bias") else weights)[key.removesuffix(".bias")] = (
                    a.astype(np.float64))
    known = {f"{layer.name}{suffix}" for layer in layers
             for suffix in ("", ".raw", ".gain") + ((".bias",) if bias else ())}
    unused = sorted(set(arrays) - known)
    if unused:
        problems.append(f"arrays the network does not use: {', '.join(unused)} (a layer name "
                        "that does not match" + ("" if bias else ", or biases while "
                                                 "network.bias is false") + ")")
    if problems:
        raise DataError(f"weights file '{path}': " + "; ".join(problems)
                        + f" (arrays present: {', '.join(sorted(arrays)) or 'none'})")
    return (weights, biases,
            *reparameterization(arrays, layers, f"weights file '{path}'"))


def reparameterization(arrays: dict, layers: list, where: str) -> tuple[dict, dict]:
    """(raw, gain) from '<layer>.raw' (the layer's weight shape) and '<layer>.gain' ((out,))
    arrays, as a run with weight standardization writes them; DataError naming ``where`` for
    a wrong shape, a non-finite value or a gain without raw weights."""
    raw, gain, problems = {}, {}, []
    for layer in layers:
        for suffix, shape, into in ((".raw", param_shape(layer), raw),
                                    (".gain", (param_shape(layer)[0],), gain)):
            key = layer.name + suffix
            if key not in arrays:
                continue
            a = arrays[key]
            if a.shape != shape or not np.issubdtype(a.dtype, np.number) \
                    or not np.all(np.isfinite(a)):
                problems.append(f"array '{key}' has shape {a.shape}, layer needs {shape} "
                                "(finite numbers)")
            else:
                into[layer.name] = a.astype(np.float64)
        if layer.name in gain and layer.name not in raw:
            problems.append(f"array '{layer.name}.gain' comes without '{layer.name}.raw' (the "
                            "gain scales the standardized raw weights; give both or neither)")
    if problems:
        raise DataError(f"{where}: " + "; ".join(problems))
    return raw, gain


def npz_bytes(path: Path) -> int:
    """Bytes the arrays of an npz take once unpacked, from the zip directory, after checking
    each array's header against them (ValueError when a header declares more)."""
    total = 0
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                shape, _, dtype = header(f)
            declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
            if declared > info.file_size:
                raise ValueError(f"array '{info.filename}' declares shape {shape} of {dtype} "
                                 f"({declared:,} bytes) but the file holds {info.file_size:,}")
            total += info.file_size
    return total


def read_npz(path: str | Path, what: str, mapped: bool = False,
             unreadable: str = "is not a readable .npz file") -> dict[str, np.ndarray]:
    """All arrays of an npz, loaded without pickle; any failure is a DataError naming the file
    ("WHAT 'PATH' UNREADABLE (the cause)"). Sizes are checked first: every array's header
    against its stored bytes (a small file cannot declare a huge array) and the total against
    the memory available (TooLargeError).

    mapped: arrays stored uncompressed (``np.savez``) come back as read-only memory maps of
    the file, not read (a data set's pages load as the simulator reads them, by every thread;
    reading 160 MB of spikes took 0.3 s of serial time); zip's CRC is then not checked."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} '{path}' not found")
    try:
        need = npz_bytes(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise DataError(f"{what} '{path}' {unreadable} ({exc})") from None
    require(need, f"{what} '{path}' (its arrays unpacked)",
            "use a smaller file, or a machine with more memory")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array (.npy), not named arrays")
        with loaded, zipfile.ZipFile(path) as z:
            members = {info.filename.removesuffix(".npy"): info for info in z.infolist()}
            return {key: _mapped_member(path, members[key])
                    if mapped and members[key].compress_type == zipfile.ZIP_STORED
                    else loaded[key] for key in loaded.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise DataError(f"{what} '{path}' {unreadable} ({exc})") from None


def _mapped_member(path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    """An uncompressed .npy member of a zip as a read-only memory map of the file."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)  # zip's local file header: its name and extra field come next
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise ValueError(f"damaged zip entry '{info.filename}'")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        member_start = info.header_offset + 30 + name_len + extra_len
        f.seek(member_start)
        version = np.lib.format.read_magic(f)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = header(f)
        start = f.tell()
    if dtype.hasobject:
        raise ValueError(f"array '{info.filename}' holds Python objects (that needs pickle)")
    nbytes = math.prod(shape) * dtype.itemsize
    if start + nbytes > member_start + info.file_size:
        raise ValueError(f"array '{info.filename}' declares shape {shape} of {dtype}, more "
                         "than its zip entry holds")
    if nbytes == 0:
        return np.zeros(shape, dtype)
    return np.asarray(np.memmap(path, dtype, "r", start, shape, "F" if fortran else "C"))
