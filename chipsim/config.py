"""net.yaml: the declared schema, loading, ``--set`` overrides and readable errors.

Every key is declared once below with its type, range, default and a one-line description
(docs/config.md is generated from these declarations). A config is validated once at load;
all problems are reported together, each by its dotted path with what would be valid, e.g.
``chip.core.synapse_memory_kib: expected an integer in [1, 4096], got 40000``.
"""
from __future__ import annotations

import copy
import difflib
import reprlib
import string
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import annotated_types as at
import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from chipsim.chip.presets import PRESETS, merged
from chipsim.errors import ConfigError
from chipsim import memory_budget
from chipsim.memory_budget import gib
from chipsim.yaml_input import load_yaml


class _Section(BaseModel):
    # strict: "8" is not an integer and "yes" is not a boolean; a typo never becomes a default.
    # No .inf or .nan anywhere: they would reach report.json as Infinity / NaN.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _f(default, description, **constraints):
    return Field(default, description=description, **constraints)


# ----------------------------------------------------------------------------- data
class RandmanConfig(_Section):
    classes: int = _f(10, "number of classes (manifolds)", ge=2, le=1000)
    units: int = _f(100, "input units (one spike each per sample)", ge=1, le=100_000)
    dim: int = _f(1, "manifold dimension", ge=1, le=16)
    alpha: float = _f(2.0, "smoothness (spectral decay of the random manifolds)", gt=0.0, le=100.0)
    samples_per_class: int = _f(200, "samples per class (the paper: 1000)", ge=2, le=100_000)


class DelayedXorConfig(_Section):
    cue: int = _f(5, "steps of each cue", ge=1, le=10_000)
    delay: int = _f(10, "silent steps between the two cues", ge=0, le=100_000)
    channels: int = _f(10, "input units per group (A, B, recall): 3 x channels inputs",
                       ge=1, le=10_000)
    rate: float = _f(0.5, "spike probability per step of an active group's unit", gt=0.0,
                     le=1.0)
    noise: float = _f(0.02, "spike probability per step of every unit", ge=0.0, le=1.0)
    train: int = _f(800, "training samples", ge=1, le=1_000_000)
    test: int = _f(200, "test samples", ge=1, le=1_000_000)


class SpokenDigitsConfig(_Section):
    channels: int = _f(32, "filterbank channels (100 Hz - 6 kHz, log-spaced): the inputs",
                       ge=2, le=700)
    frame_ms: float = _f(10.0, "milliseconds per time step (envelope frame)", gt=0.0, le=1000.0)
    gain: float = _f(0.5, "spikes per step at a channel's loudest frame", gt=0.0, le=1.0)


class DataConfig(_Section):
    source: Literal["digits", "yinyang", "randman", "fashion_mnist", "mnist1d", "npz",
                    "delayed_xor", "spoken_digits"] = _f(
        "digits", "digits (scikit-learn's 8x8, embedded), yinyang, randman, mnist1d "
        "(generated from the seed), fashion_mnist (Debian package dataset-fashion-mnist), npz, "
        "delayed_xor (a temporal task generated from the seed: chipsim/data/delayed_xor.py), "
        "spoken_digits (SHD-like, made with Debian's espeak-ng: "
        "chipsim/data/spoken_digits.py)")
    path: Union[str, None] = _f(
        None, "npz: the file (x (N,T,in) pre-encoded or (N,in) static, y (N,) int, optional "
        "x_test, y_test); fashion_mnist: the folder of the IDX files (default: the package's); "
        "relative paths in a config file are relative to that file")
    test_fraction: float = _f(0.25, "fraction split off as test set when the data has none",
                              gt=0.0, lt=1.0)
    encoding: Literal["direct", "rate", "latency"] = _f(
        "direct", "direct: the analog input every step (as the paper); rate: seeded Bernoulli; "
        "latency: one spike per input, earlier for larger values")
    timesteps: int = _f(6, "time steps per sample (T); randman: its spike-time steps",
                        ge=1, le=100_000)
    downsample: bool = _f(False, "fashion_mnist: average 2x2 blocks (14x14 inputs)")
    randman: RandmanConfig = _f(RandmanConfig(), "randman parameters (Zenke and Vogels 2021)")
    delayed_xor: DelayedXorConfig = _f(DelayedXorConfig(), "delayed XOR: two cues a delay apart, "
                                       "the label is whether they differ (chance 50 %)")
    spoken_digits: SpokenDigitsConfig = _f(SpokenDigitsConfig(), "spoken digits (SHD-like): "
                                           "espeak-ng's words through a cochlea-like filterbank")


# ----------------------------------------------------------------------------- network
class NeuronConfig(_Section):
    model: Literal["lif", "if"] = _f(
        "lif", "lif: leaky (lambda = 1 - 1/tau); if: integrate-and-fire, no leak (tau ignored)")
    tau: float = _f(2.0, "membrane and trace time constant in steps; leak lambda = 1 - 1/tau",
                    ge=1.0, le=1e6)
    threshold: float = _f(1.0, "firing threshold", gt=0.0, le=1e6)
    firing: Literal[">=", ">"] = _f(">=", "spike when u >= threshold (the paper's; a tie "
                                    "fires) or u > threshold (snnTorch's, the NIR spec's)")
    reset: Literal["subtract", "zero"] = _f(
        "subtract", "after a spike: subtract the threshold (soft) or set to zero (hard)")
    reset_at: Literal["same_step", "next_step"] = _f(
        "same_step", "same_step: reset right after firing; next_step: the subtraction joins "
        "the next step's charge after the leak (snnTorch's Leaky; reset subtract only)")
    tau_syn: float = _f(1.0, "synaptic current time constant in steps: 1, none (the input "
                        "charges the membrane); > 1, a CUBA neuron, I[t] = (1 - 1/tau_syn) "
                        "I[t-1] + W x[t] (learning: BPTT in float64, or none)", ge=1.0, le=1e6)


class LayerNeuronConfig(_Section):
    """A layer's own neuron: the keys given replace the network's (network.neuron)."""

    model: Union[Literal["lif", "if"], None] = _f(None, "lif or if (default: the network's)")
    tau: Union[float, None] = _f(None, "time constant in steps", ge=1.0, le=1e6)
    threshold: Union[float, None] = _f(None, "firing threshold", gt=0.0, le=1e6)
    firing: Union[Literal[">=", ">"], None] = _f(None, "'>=' or '>'")
    reset: Union[Literal["subtract", "zero"], None] = _f(None, "subtract or zero")
    reset_at: Union[Literal["same_step", "next_step"], None] = _f(None, "same_step or next_step")
    tau_syn: Union[float, None] = _f(None, "synaptic current time constant in steps",
                                     ge=1.0, le=1e6)


Size = Union[Annotated[int, at.Ge(1), at.Le(4096)],
             Annotated[list[Annotated[int, at.Ge(1), at.Le(4096)]], at.MinLen(2), at.MaxLen(2)]]
Pad = Union[Annotated[int, at.Ge(0), at.Le(4096)],
            Annotated[list[Annotated[int, at.Ge(0), at.Le(4096)]], at.MinLen(2), at.MaxLen(2)]]


class LayerConfig(_Section):
    name: Union[str, None] = _f(None, "layer name (key in weight files); default layer<i>",
                                pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["dense", "conv2d", "avgpool2d", "sumpool2d", "flatten"] = _f(
        "dense", "dense, conv2d (needs network.input_shape), average/sum pooling, flatten")
    units: Union[int, None] = _f(None, "dense: number of neurons (required)", ge=1,
                                 le=10_000_000)
    channels: Union[int, None] = _f(None, "conv2d: output channels (required)", ge=1, le=65536)
    kernel: Union[Size, None] = _f(None, "conv2d, pooling: kernel size (required)")
    stride: Union[Size, None] = _f(None, "conv2d: stride (default 1); pooling: default kernel")
    padding: Pad = _f(0, "conv2d: zero padding")
    recurrent: bool = _f(
        False, "dense, spiking: the layer's own spikes of the previous step feed back, u[t] = "
        "lam v[t-1] + W x[t] + W_rec s[t-1]; weights [W | W_rec] (units, inputs + units); "
        "on the chip its own synapse rows sit in its cores, read by its spikes of the last step")
    neuron: Union[Literal["lif", "readout"], LayerNeuronConfig] = _f(
        "lif", "dense, conv2d: lif (spiking, the network's neuron), a mapping of neuron keys "
        "that replace the network's for this layer (e.g. {threshold: 0.5, firing: '>'}), or "
        "readout (non-spiking linear read-out; the last layer only)")


class InitConfig(_Section):
    weights: Union[str, None] = _f(
        None, "npz of initial weights keyed by layer name, (out, in) layout; null: seeded init. "
        "With weight standardization, '<layer>.raw' and '<layer>.gain' (a standardized run's "
        "weights.npz) are the raw weights and gains, else '<layer>' is the raw weights, gain 1; "
        "without it only '<layer>' (the effective weights) is used")
    gain: float = _f(1.0, "seeded init: W ~ U(-b, b), b = gain * sqrt(3 / fan_in)",
                     gt=0.0, le=1e3)


class NirImportConfig(_Section):
    convention: Literal["nir", "snntorch", "chipsim"] = _f(
        "nir", "how to read a NIR file's neurons: 'nir' (the spec, forward Euler with dt), "
        "'snntorch' (snnTorch's exporter: dt 1e-4, fire on u > threshold, subtract at the next "
        "step), 'chipsim' (chipsim's own export)")
    dt: Union[float, None] = _f(None, "time step of the NIR discretization (default: the "
                                "convention's: 1e-4 for snntorch, 1.0 otherwise)", gt=0.0)


class StandardizationConfig(_Section):
    enabled: bool = _f(False, "scaled weight standardization with a learned gain per output "
                       "of every hidden synaptic layer (the paper's VGG convs; float64 only: a "
                       "chip stores the standardized weights)")
    readout: bool = _f(False, "false: the read-out is a plain layer trained directly (the "
                       "authors' nn.Linear); true: standardize it too, with a gain")
    scale: float = _f(2.74, "constant factor on every layer whose input is spikes (all but the "
                      "first, the read-out too): the authors' Scale(2.74) after each neuron",
                      gt=0.0, le=1e3)
    eps: float = _f(1e-4, "epsilon under the square root", gt=0.0, le=1.0)


class NetworkConfig(_Section):
    model: Union[str, None] = _f(
        None, "a trained network to load instead of layers: .nir (NIR graph), .npz with a "
        ".yaml architecture beside it, .pt / .pth (PyTorch, with the torch extra), or a run "
        "directory (its weights.npz + weights.yaml)")
    nir: NirImportConfig = _f(NirImportConfig(), "how a NIR network.model is read")
    neuron: NeuronConfig = _f(NeuronConfig(), "parameters of the spiking neurons")
    input_shape: Union[Annotated[list[Annotated[int, at.Ge(1)]], at.MinLen(1), at.MaxLen(3)],
                       None] = _f(None, "shape of one input, e.g. [1, 28, 28] (C, H, W) for "
                                  "conv layers; default: the data's flat size")
    input_trace: bool = _f(
        False, "false: layer 1 learns from the raw input x[t] (the paper); true: from a trace")
    bias: bool = _f(False, "layers have a bias (per neuron; conv: per output channel), "
                    "learned like a weight with a constant input of 1")
    prediction: Literal["spike_count", "membrane"] = _f(
        "spike_count", "when the last layer spikes: the class with the most output spikes "
        "(ties: the lowest index, as torch.argmax) or the largest summed membrane; a readout "
        "layer is always classified by its summed output")
    layers: Union[Annotated[list[LayerConfig], at.MinLen(1)], None] = _f(
        None, "the layers, input side first; the last is the read-out (required unless "
        "network.model names a trained network)")
    init: InitConfig = _f(InitConfig(), "initial weights")
    weight_standardization: StandardizationConfig = _f(
        StandardizationConfig(), "scaled weight standardization (training-time, float64)")


# ----------------------------------------------------------------------------- learning
class SurrogateConfig(_Section):
    type: Literal["sigmoid"] = _f("sigmoid", "surrogate derivative of the spike function")
    alpha: float = _f(4.0, "slope: sigma'(z) = alpha sig(alpha z)(1 - sig(alpha z))",
                      gt=0.0, le=1e3)


class LossConfig(_Section):
    mse_weight: float = _f(0.05, "lam_L in L = (1 - lam_L) CE + lam_L MSE", ge=0.0, le=1.0)


class OptimizerConfig(_Section):
    type: Literal["sgd"] = _f("sgd", "optimizer (torch.optim.SGD semantics)")
    lr: float = _f(0.1, "learning rate", gt=0.0, le=1e3)
    momentum: float = _f(0.0, "momentum (no dampening, no Nesterov)", ge=0.0, lt=1.0)
    weight_decay: float = _f(0.0, "L2 weight decay added to the gradient", ge=0.0, le=1e3)
    max_grad_norm: Union[float, None] = _f(
        None, "clip the L2 norm of all gradients together to this before each step "
        "(torch.nn.utils.clip_grad_norm_; float64 only)", gt=0.0, le=1e6)


class LearningConfig(_Section):
    rule: Literal["ottt", "bptt", "none"] = _f(
        "ottt", "ottt: online training through time; bptt: float reference; none: inference")
    variant: Literal["A", "O"] = _f(
        "A", "A: sum the sample's T step gradients, one update; O: update every step")
    error: Literal["backprop", "broadcast"] = _f(
        "backprop", "backprop: error through the next layer's weights; broadcast: through a "
        "fixed random feedback matrix")
    surrogate: SurrogateConfig = _f(SurrogateConfig(), "surrogate gradient")
    loss: LossConfig = _f(LossConfig(), "per-step loss")
    optimizer: OptimizerConfig = _f(OptimizerConfig(), "optimizer")
    batch_size: int = _f(1, "samples per update", ge=1, le=1_000_000)
    epochs: int = _f(5, "passes over the training set (0: evaluate only)", ge=0, le=100_000)
    shuffle: bool = _f(True, "shuffle the training set every epoch (seeded)")
    detach_reset: bool = _f(True, "bptt: no gradient through the reset (as the paper)")


# ----------------------------------------------------------------------------- chip
class BitsConfig(_Section):
    weight: int = _f(8, "synaptic weight width (signed)", ge=2, le=32)
    membrane: int = _f(16, "membrane register width (signed)", ge=2, le=46)
    trace: int = _f(8, "presynaptic trace register width (unsigned)", ge=1, le=32)
    error: int = _f(8, "error / modulator width (signed)", ge=2, le=32)
    input: int = _f(8, "graded input spike payload width (unsigned)", ge=1, le=16)
    surrogate: int = _f(8, "surrogate value width; its lookup table has 2^bits entries",
                        ge=2, le=20)
    accumulator: int = _f(24, "OTTT_A per-synapse gradient accumulator width (signed)",
                          ge=2, le=48)
    learning_rate: int = _f(12, "learning-rate mantissa width (lr = mantissa x 2^exponent)",
                            ge=1, le=24)
    bias: int = _f(16, "neuron bias width (signed), held in neuron memory", ge=2, le=32)


class CoreConfig(_Section):
    neurons: int = _f(1024, "neurons per core", ge=1, le=1 << 20)
    axons: int = _f(4096, "input axons per core", ge=1, le=1 << 24)
    synapse_memory_kib: int = _f(128, "synapse SRAM per core in KiB", ge=1, le=4096)
    word_bits: int = _f(64, "synapse SRAM word width; rows are padded to whole words",
                        ge=8, le=1024)


class CyclesConfig(_Section):
    """Cycles per event (assumed defaults: one word or register per cycle, two for a
    read-modify-write), the clock, routing and the barrier."""

    synaptic_ops: float = _f(1.0, "cycles per synapse word read and accumulated", ge=0)
    synapse_rows_read: float = _f(2.0, "cycles per row (axon) looked up", ge=0)
    active_neuron_updates: float = _f(1.0, "cycles per active neuron update", ge=0)
    inactive_neuron_updates: float = _f(1.0, "cycles per idle neuron update", ge=0)
    neuron_spikes: float = _f(0.0, "cycles per spike a neuron generates (spike-out)", ge=0)
    input_packets: float = _f(1.0, "cycles per input event received", ge=0)
    spike_packets: float = _f(1.0, "cycles per spike packet received", ge=0)
    error_packets: float = _f(1.0, "cycles per error value received", ge=0)
    partial_sum_packets: float = _f(1.0, "cycles per partial sum received (split fan-in)",
                                    ge=0)
    trace_updates: float = _f(1.0, "cycles per trace register update", ge=0)
    error_reads: float = _f(1.0, "cycles per word read for the backward error", ge=0)
    modulator_ops: float = _f(1.0, "cycles per surrogate look-up and product", ge=0)
    weight_updates: float = _f(2.0, "cycles per synapse read-modify-write", ge=0)
    accumulator_updates: float = _f(2.0, "cycles per accumulator read-modify-write", ge=0)
    gradient_macs: float = _f(1.0, "cycles per product summed into a conv kernel's change",
                              ge=0)
    accumulator_reads: float = _f(1.0, "cycles per accumulator word scanned", ge=0)
    clock_mhz: float = _f(100.0, "core clock in MHz", gt=0, le=1e5)
    barrier: float = _f(16.0, "cycles of the end-of-step barrier", ge=0)
    barrier_by_tiles: Union[list[Annotated[list[Annotated[float, at.Ge(0)]], at.MinLen(2),
                                           at.MaxLen(2)]], None] = _f(
        None, "barrier by router tiles used (chip.tile), [[fewest tiles, cycles], ...]: the "
        "pair with the most tiles <= the tiles a run uses applies (replaces barrier); null: "
        "barrier")
    hop_cycles: float = _f(1.0, "cycles per router hop (latency of the longest route)", ge=0)
    link_cycles_per_packet: float = _f(1.0, "cycles a link needs per packet (contention)", ge=0)
    realtime_step_us: float = _f(1000.0, "real time one step stands for (real-time factor)",
                                 gt=0)

    @property
    def events(self) -> dict[str, float]:
        skip = {"clock_mhz", "barrier", "barrier_by_tiles", "hop_cycles",
                "link_cycles_per_packet", "realtime_step_us"}
        return {k: getattr(self, k) for k in type(self).model_fields if k not in skip}


Policy = Literal["saturate", "wrap", "error"]


class OverflowConfig(_Section):
    membrane: Policy = _f("saturate", "membrane registers and read-out values")
    trace: Policy = _f("saturate", "trace registers")
    error: Policy = _f("saturate", "error and modulator registers")
    weight: Policy = _f("saturate", "synaptic weights after an update")
    accumulator: Policy = _f("saturate", "OTTT_A accumulators")


class ChipConfig(_Section):
    arithmetic: Literal["fixed", "float64"] = _f(
        "fixed", "fixed: the fixed-point chip; float64: the real-number reference")
    preset: Literal["default", "loihi", "loihi_nahuku32", "sanafe_loihi"] = _f(
        "default", "named chip preset (chipsim/chip/presets.py); the keys you give override it")
    bits: BitsConfig = _f(BitsConfig(), "bit widths")
    rounding: Literal["stochastic", "nearest", "floor"] = _f(
        "stochastic", "rounding of weight updates (stochastic: seeded per-core generator)")
    weight_headroom: float = _f(
        8.0, "per-layer weight range = smallest power of two >= headroom x max |initial W|",
        ge=1.0, le=1e6)
    membrane_headroom: float = _f(
        64.0, "membrane range >= headroom x max(1, threshold); fewer fraction bits if needed",
        ge=1.0, le=1e9)
    mesh: Annotated[list[Annotated[int, at.Ge(1), at.Le(256)]], at.MinLen(2), at.MaxLen(2)] = _f(
        [4, 4], "cores in x and y")
    core: CoreConfig = _f(CoreConfig(), "per-core limits")
    tile: Annotated[list[Annotated[int, at.Ge(1)]], at.MinLen(2), at.MaxLen(2)] = _f(
        [1, 1], "cores in x and y that share one router (a tile): hops are counted between "
        "tiles, chip.cycles.barrier_by_tiles counts tiles (Loihi: [2, 2])")
    backward: Literal["read", "copy"] = _f(
        "read", "backprop error: read the synapse rows backwards (no extra memory, every row "
        "when any error is nonzero) or keep a transposed copy (2x memory, rows of nonzero "
        "errors only, both copies written)")
    split_fan_in: bool = _f(
        True, "a fan-in larger than a core's axons is split over cores that send partial sums "
        "to the neurons' core (graded messages, Loihi 2 style); false: it must fit one core")
    conv_weights: Literal["shared", "unrolled"] = _f(
        "shared", "conv layers on chip: one kernel per core (shared) or every connection stored")
    cycles: CyclesConfig = _f(CyclesConfig(), "cycle costs and clock")
    energy: Union[Literal["loihi2018", "horowitz45", "sanafe_loihi"],
                  dict[str, Annotated[float, at.Ge(0)]]] = _f(
        "loihi2018", "energy table: a preset name or pJ for every event type (all presets "
        "are reported; this one is the headline)")
    static_pj_per_core_step: float = _f(0.0, "static (leakage) energy per core per time step",
                                        ge=0.0)
    overflow: Union[Policy, OverflowConfig] = _f(
        "saturate", "out-of-range values: saturate, wrap (two's complement) or error (stop, "
        "naming layer, variable, step and value); one policy, or one per variable")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, raw):
        if isinstance(raw, dict) and raw.get("preset") in PRESETS:
            return merged(PRESETS[raw["preset"]], raw)
        return raw

    def overflow_policies(self) -> dict[str, str]:
        """{variable: policy} for membrane, trace, error, weight, accumulator."""
        if isinstance(self.overflow, str):
            return {v: self.overflow for v in OverflowConfig.model_fields}
        return self.overflow.model_dump()


# ----------------------------------------------------------------------------- output
class OutputConfig(_Section):
    dir: str = _f("runs/{name}", "run directory, relative to the working folder (where the "
                  "command runs; file paths inside a config are relative to the config); "
                  "{name} is the config file's stem")
    plots: bool = _f(True, "write PNG plots")
    record: list[Literal["spikes", "membrane"]] = _f(
        [], "record.npz on the test set: (N, T, units) per layer")
    checkpoint_every: int = _f(0, "samples between checkpoints (0: none)", ge=0, le=10**12)

    @field_validator("dir")
    @classmethod
    def _only_the_name_field(cls, template: str) -> str:
        # any other field would run Python's formatting on the name ({name.__class__})
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            raise ValueError(f"'{template}' is not a valid template ({exc}); write braces only "
                             "around name, e.g. runs/{name}") from None
        if fields - {"name"}:
            raise ValueError(f"'{template}' uses {sorted(fields - {'name'})}; the only field is "
                             "{name} (the config file's name), e.g. runs/{name}")
        return template


class Config(_Section):
    seed: int = _f(0, "fixes every random choice", ge=0, le=2**32 - 1)
    data: DataConfig = _f(DataConfig(), "input data")
    network: NetworkConfig = _f(..., "the network")
    learning: LearningConfig = _f(LearningConfig(), "learning rule")
    chip: ChipConfig = _f(ChipConfig(), "the chip")
    output: OutputConfig = _f(OutputConfig(), "what the run writes")

    def layer_names(self) -> list[str]:
        return [layer.name or f"layer{i}" for i, layer in enumerate(self.network.layers or [])]


# ============================================================================= loading
def read_yaml_file(path: str | Path, what: str, error=ConfigError):
    """The safe-loaded content of a YAML file; ``error`` (naming ``what``) when it is missing,
    not text or not YAML. An empty file reads as {}."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} '{path}' is a folder; expected a YAML file")
    if not path.is_file():
        raise error(f"{what} '{path}' not found")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise error(f"{what} '{path}': not a text file") from None
    content = load_yaml(text, f"{what} '{path}'", error)
    return {} if content is None else content


def load_config(source: str | Path | dict | Config, overrides: list[str] = ()) -> Config:
    """A validated config from a net.yaml path (file paths in it relative to the file), a
    dict with its sections (paths relative to the working folder) or a Config, with
    ``KEY=VALUE`` overrides applied (dotted keys, YAML values).

    Raises ConfigError with every problem found, one per line, each by its dotted path.
    """
    if isinstance(source, Config):
        source = source.model_dump(mode="json")
    if isinstance(source, dict):
        raw, where = copy.deepcopy(source), "config"
    else:
        path = Path(source)
        raw, where = read_yaml_file(path, "config file (net.yaml)"), str(path)
        if isinstance(raw, dict):
            resolve_paths(raw, path.parent)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of sections "
                          f"({', '.join(Config.model_fields)}), got {type(raw).__name__}")
    for item in overrides:
        apply_override(raw, item)
    return validate_config(raw, source=where)


def load_map_config(model: str, chip_file: str | None, overrides: list[str] = ()) -> Config:
    """The config of ``chipsim map``: network.model = MODEL, the chip section from CHIP.yaml
    (its top-level ``chip:`` section, or the chip keys themselves), then overrides."""
    raw: dict = {"network": {"model": str(model)}}
    if chip_file is not None:
        chip = read_yaml_file(chip_file, "--chip file")
        if not isinstance(chip, dict):
            raise ConfigError(f"--chip {chip_file}: expected a mapping with the chip's keys")
        raw["chip"] = chip.get("chip", chip)
    for item in overrides:
        apply_override(raw, item)
    return validate_config(raw, source=str(chip_file or "chipsim map"))


FILE_KEYS = (("data", "path"), ("network", "model"), ("network", "init", "weights"))


def resolve_paths(raw: dict, base: Path) -> None:
    """File paths written in a config file are relative to that file (those given with
    --set stay relative to the working directory)."""
    for keys in FILE_KEYS:
        node = raw
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(keys[-1]), str):
            value = Path(node[keys[-1]]).expanduser()
            if not value.is_absolute():
                node[keys[-1]] = str(base / value)


def apply_override(raw: dict, item: str) -> None:
    """Set ``a.b.c=value`` in the raw config dict; the value is parsed as YAML."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, "
                          "e.g. --set chip.bits.weight=4")
    value = load_yaml(text, f"--set {key}: value {text[:60]!r}", ConfigError)
    parts = key.strip().split(".")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            node = node[_list_index(node, part, where)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ConfigError(f"--set {key}: '{'.'.join(parts[:depth])}' is a value, not a section")
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {key}: '{where}' is a value, not a section")
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(node, last, key)] = value
    else:
        node[last] = value


def _list_index(node: list, part: str, where: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"--set: '{where}' indexes a list of {len(node)} items; "
                          f"use an index in [0, {len(node) - 1}]")
    return int(part)


def validate_config(raw: dict, source: str = "config") -> Config:
    """Validate a raw dict against the schema, then the cross-section rules."""
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(problems_text(source, schema_problems(exc, Config))) from None
    problems = _cross_checks(config)
    if problems:
        raise ConfigError(problems_text(source, problems))
    return config


def schema_problems(exc: ValidationError, root: type[BaseModel],
                    labels: dict[tuple, str] | None = None) -> list[str]:
    """One line per offending key of a failed validation against the schema ``root``
    (net.yaml's Config, or another file's, such as an architecture): the dotted key, what it
    accepts (from the declaration) and what it got, with a guess for a misspelt key.
    ``labels``: how to show a key path's start, e.g. {('layers', 0): "layers.0 ('fc')"}."""
    return _one_per_key(_format_error(err, root, labels or {}) for err in exc.errors())


def problems_text(source: str, problems: list[str], what: str = "the config") -> str:
    """'SOURCE: N problems in WHAT' and the problems, one per line."""
    head = f"{source}: {len(problems)} problem{'s' if len(problems) > 1 else ''} in {what}"
    return head + "\n" + "\n".join(f"  {p}" for p in problems)


def _one_per_key(messages) -> list[str]:
    # A union field (e.g. chip.energy) fails once per member type: report the key once.
    seen: dict[str, str] = {}
    for m in messages:
        seen.setdefault(m.split(":", 1)[0], m)
    return list(seen.values())


# float64 weights, their chip copy, accumulators, transposed copies and gradients: building a
# chip OTTT_A network and learning one batch grew the peak RSS by 37 bytes per synapse
# (64-20000-10 and 64-80000-10 on digits, measured 2026-12-04)
BYTES_PER_SYNAPSE = 40


def synapse_problems(synapses: int) -> list[str]:
    """A network too large for this machine's memory, said before anything is allocated."""
    have, limit = memory_budget.available_bytes()
    need = synapses * BYTES_PER_SYNAPSE
    if need <= have:
        return []
    return [f"network.layers: {synapses:.3g} synapses need about {gib(need)} "
            f"({BYTES_PER_SYNAPSE} bytes each while training), {gib(have)} is left under "
            f"{limit}; use fewer or smaller layers"]


def size_problems(c: Config, n_inputs: int = 1) -> list[str]:
    """Sizes that cannot fit this machine's memory, found before anything is allocated
    (dense layers from the config alone; conv layers once their shapes are known)."""
    out, (have, limit) = [], memory_budget.available_bytes()
    dense = [layer.units for layer in c.network.layers or []
             if layer.type == "dense" and layer.units is not None]
    units = [n_inputs] + dense
    out += synapse_problems(sum(a * b for a, b in zip(units, units[1:])))
    if c.data.source == "randman":
        r = c.data.randman
        values = r.classes * r.samples_per_class * c.data.timesteps * r.units
        if values * 8 > have:
            out.append(f"data.randman: {values:.3g} input values ({gib(values * 8)} as "
                       f"float64) exceed the {gib(have)} left under {limit}; lower "
                       "samples_per_class, units or data.timesteps")
    if c.data.source == "delayed_xor":
        t = c.data.delayed_xor
        spikes = (t.train + t.test) * c.data.timesteps * 3 * t.channels  # uint8
        if spikes > have:
            out.append(f"data.delayed_xor: {spikes:.3g} input values ({gib(spikes)} as uint8) "
                       f"exceed the {gib(have)} left under {limit}; lower train, test, "
                       "channels or data.timesteps")
    return out


# per layer type: (required keys, optional keys)
LAYER_KEYS = {"dense": (["units"], []), "conv2d": (["channels", "kernel"], ["stride", "padding"]),
              "avgpool2d": (["kernel"], ["stride"]), "sumpool2d": (["kernel"], ["stride"]),
              "flatten": ([], [])}


def _cross_checks(c: Config) -> list[str]:
    """Rules that span keys or sections; each message names the keys involved."""
    out = size_problems(c)
    if c.data.source == "npz" and not c.data.path:
        out.append("data.path: required when data.source is 'npz' (a path to an .npz file)")
    names = c.layer_names()
    if (c.network.layers is None) == (c.network.model is None):
        out.append("network.layers: give either layers (a network to build) or network.model "
                   "(a trained network to load), " + ("not both" if c.network.layers else
                                                      "one is required"))
    for i, layer in enumerate(c.network.layers or []):
        needs, takes = LAYER_KEYS[layer.type]
        for key in needs:
            if getattr(layer, key) is None:
                out.append(f"network.layers.{i}.{key}: required for a {layer.type} layer")
        for key in ("units", "channels", "kernel", "stride", "padding"):
            if getattr(layer, key) not in (None, 0) and key not in needs + takes:
                out.append(f"network.layers.{i}.{key}: a {layer.type} layer takes no {key}")
        if layer.type in ("avgpool2d", "sumpool2d", "flatten") and layer.neuron != "lif":
            out.append(f"network.layers.{i}.neuron: a {layer.type} layer has no neurons")
        last = i == len(c.network.layers) - 1
        if last and layer.type not in ("dense", "conv2d"):
            out.append(f"network.layers.{i}.type: the last layer ('{names[i]}') must be dense "
                       f"or conv2d (the output neurons), got '{layer.type}'")
        own = layer.neuron if isinstance(layer.neuron, LayerNeuronConfig) else None
        if own is not None and (own.reset or c.network.neuron.reset) == "zero" \
                and (own.reset_at or c.network.neuron.reset_at) == "next_step":
            out.append(f"network.layers.{i}.neuron: reset 'zero' happens in the same step; "
                       "reset_at: next_step goes with reset: subtract")
        if layer.recurrent and (layer.type != "dense" or layer.neuron == "readout" or last):
            out.append(f"network.layers.{i}.recurrent: only a hidden spiking dense layer can "
                       f"be recurrent ('{names[i]}' is " + ("the output layer" if last else
                                                            f"a {layer.type} layer") + ")")
        if layer.recurrent and c.network.weight_standardization.enabled:
            out.append(f"network.layers.{i}.recurrent: not with network.weight_standardization")
        if not last and layer.neuron == "readout":
            out.append(f"network.layers.{i}.neuron: only the last layer can be 'readout'; "
                       f"'{names[i]}' is layer {i} of {len(names)}, use 'lif'")
    if c.network.neuron.reset == "zero" and c.network.neuron.reset_at == "next_step":
        out.append("network.neuron.reset_at: reset 'zero' happens in the same step; "
                   "reset_at: next_step goes with reset: subtract")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        out.append(f"network.layers: layer names must be unique, repeated: {', '.join(dupes)}")
    if c.learning.rule == "bptt" and c.chip.arithmetic != "float64":
        out.append("learning.rule: 'bptt' is a float reference only; set chip.arithmetic: float64")
    if c.chip.arithmetic == "fixed":
        opt = c.learning.optimizer
        if opt.momentum or opt.weight_decay:
            out.append("learning.optimizer: the chip's learning engine keeps no momentum buffer "
                       "and applies no weight decay; with chip.arithmetic: fixed use momentum: 0 "
                       "and weight_decay: 0 (or chip.arithmetic: float64)")
        if opt.max_grad_norm is not None:
            out.append("learning.optimizer.max_grad_norm: the chip's learning engine updates "
                       "each synapse from its own pre, post and error values and never sees the "
                       "norm of all gradients together; with chip.arithmetic: fixed leave it "
                       "unset (or use chip.arithmetic: float64)")
        if c.network.weight_standardization.enabled:
            out.append("network.weight_standardization.enabled: standardization is a training-"
                       "time reparameterization of the float64 reference; train in float64 and "
                       "import the standardized weights (weights.npz) to the chip")
        if c.learning.rule == "ottt" and c.learning.variant == "O" and c.learning.batch_size > 1:
            out.append("learning.batch_size: variant O writes weights every step of one sample, "
                       "so on chip it learns with batch_size: 1 (variant A accumulates a batch)")
    return out


# ----------------------------------------------------------------------------- messages
def _format_error(err: dict, root: type[BaseModel], labels: dict[tuple, str]) -> str:
    loc, kind, given = err["loc"], err["type"], err.get("input")
    path, annotation, metadata, parent = _walk(loc, root)
    dotted = _dotted(path, labels) or "(top level)"
    if kind in ("union_tag_invalid", "union_tag_not_found"):  # kinds told apart by a key
        key = err["ctx"]["discriminator"].strip("'")
        tags = [tag for arm in typing.get_args(_unwrap(annotation)[0])
                for tag in _literal_choices(_unwrap(arm)[0].model_fields[key].annotation)]
        expected = "one of " + ", ".join(repr(t) for t in tags)
        if kind == "union_tag_not_found":
            return f"{dotted}.{key}: required, {expected}"
        tag = str(err["ctx"]["tag"])
        return f"{dotted}.{key}: unknown {tag!r}{_did_you_mean(tag, tags)}; expected {expected}"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        valid = list(parent.model_fields) if parent else []
        where = ".".join(str(p) for p in path[:-1]) or "the top level"
        return (f"{dotted}: unknown key {key!r}{_did_you_mean(key, valid)}; "
                f"valid keys in {where}: {', '.join(valid)}")
    expected = _expectation(annotation, metadata)
    if kind == "missing":
        return f"{dotted}: required, {expected}"
    if kind == "value_error":  # a validator's own words
        return f"{dotted}: {err['ctx']['error']}"
    if kind == "literal_error" and isinstance(given, str):
        choices = [str(c) for c in _literal_choices(annotation)]
        return f"{dotted}: unknown {given!r}{_did_you_mean(str(given), choices)}; expected {expected}"
    return f"{dotted}: expected {expected}, got {_show(given)}"


def _dotted(path: list, labels: dict[tuple, str]) -> str:
    """The key path dotted, its longest labelled start shown by its label."""
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in labels:
            return ".".join([labels[tuple(path[:n])], *(str(p) for p in path[n:])])
    return ".".join(str(p) for p in path)


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


_SHORT = reprlib.Repr()  # (keyword arguments only from Python 3.12)
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist = 2, 4, 4
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 60, 60, 40


def _show(value) -> str:
    """A value in a message: short however large it is (never a whole repr first)."""
    if isinstance(value, (dict, list)):
        text = _SHORT.repr(value)
        return text if len(text) <= 60 else f"a {type(value).__name__} of {len(value)} items"
    return f"{_SHORT.repr(value)} ({type(value).__name__})" if isinstance(value, str) \
        else _SHORT.repr(value)


def _unwrap(annotation):
    """(base annotation, constraint metadata) of an Annotated[...] or plain annotation."""
    metadata = []
    while typing.get_origin(annotation) is Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata.extend(extra)
    return annotation, metadata


def _is_union(annotation) -> bool:
    return typing.get_origin(annotation) in (Union, types.UnionType)


def _walk(loc, root: type[BaseModel]):
    """Follow a pydantic error location through the schema ``root``.

    Returns the clean dotted path (union member tags dropped), the annotation and constraint
    metadata of the field it ends at, and the model class that holds the last key.
    """
    annotation, metadata, parent, path = root, [], None, []
    for part in loc:
        base, _ = _unwrap(annotation)
        if _is_union(base):  # descend into the member the next key belongs to, if any
            tagged = [arm for arm in typing.get_args(base) if _is_tag_of(part, _unwrap(arm)[0])]
            if tagged:  # pydantic's tag of a member (a class name, a 'type' value): not a key
                annotation, metadata = _unwrap(tagged[0])
                continue
            for arm in typing.get_args(base):
                arm_base, arm_meta = _unwrap(arm)
                if (isinstance(part, int) and typing.get_origin(arm_base) is list) or (
                        isinstance(part, str) and isinstance(arm_base, type)
                        and issubclass(arm_base, BaseModel) and part in arm_base.model_fields):
                    annotation, metadata, base = arm, arm_meta, arm_base
                    break
        if isinstance(base, type) and issubclass(base, BaseModel) and isinstance(part, str):
            parent = base
            field = base.model_fields.get(part)
            path.append(part)
            if field is None:
                return path, None, [], parent
            annotation, metadata = field.annotation, list(field.metadata)
        elif typing.get_origin(base) is list and isinstance(part, int):
            path.append(part)
            annotation, metadata = _unwrap(typing.get_args(base)[0])
        elif typing.get_origin(base) is dict and not _is_union(base):
            path.append(part)
            annotation, metadata = _unwrap(typing.get_args(base)[1])
        elif _is_union(base):
            continue  # a union member tag such as 'str' or 'literal[...]': not a config key
        else:
            path.append(part)
    return path, annotation, metadata, parent


def _is_tag_of(part, member) -> bool:
    """Whether a location part is pydantic's tag of the union member ``member``: its class
    name, or its value of the discriminating key 'type'."""
    if not (isinstance(part, str) and isinstance(member, type) and issubclass(member, BaseModel)):
        return False
    kind = member.model_fields.get("type")
    return part == member.__name__ or (kind is not None and part in _literal_choices(
        kind.annotation) and typing.get_origin(_unwrap(kind.annotation)[0]) is Literal)


def _literal_choices(annotation) -> list:
    base, _ = _unwrap(annotation)
    if typing.get_origin(base) is Literal:
        return list(typing.get_args(base))
    if _is_union(base):
        return [c for arm in typing.get_args(base) for c in _literal_choices(arm)]
    return []


def _expectation(annotation, metadata=()) -> str:
    """A readable description of what a field accepts, derived from its declaration."""
    if annotation is None:
        return "a known key"
    base, extra = _unwrap(annotation)
    metadata = list(metadata) + extra
    origin = typing.get_origin(base)
    if origin is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(base))
    if _is_union(base):  # (the field's bounds apply to each member: tau >= 1 or null)
        return " or ".join("null" if arm is type(None) else _expectation(arm, metadata)
                           for arm in typing.get_args(base))
    if base is bool:
        return "true or false"
    if base is int:
        return "an integer" + _range(metadata)
    if base is float:
        return "a number" + _range(metadata)
    if base is str:
        return "a string"
    if origin is list:
        item = _expectation(typing.get_args(base)[0])
        return f"a list{_length(metadata)}, each {item}"
    if origin is dict:
        return f"a mapping of names to {_expectation(typing.get_args(base)[1])}"
    if isinstance(base, type) and issubclass(base, BaseModel):
        return f"a section with keys {', '.join(base.model_fields)}"
    return str(base)


def _bounds(metadata):
    lo = hi = None
    for m in metadata:
        for attr, side, closed in (("ge", "lo", True), ("gt", "lo", False),
                                   ("le", "hi", True), ("lt", "hi", False)):
            value = getattr(m, attr, None)
            if value is not None:
                if side == "lo":
                    lo = (value, closed)
                else:
                    hi = (value, closed)
    return lo, hi


def _range(metadata) -> str:
    lo, hi = _bounds(metadata)
    if lo and hi:
        return f" in {'[' if lo[1] else '('}{lo[0]}, {hi[0]}{']' if hi[1] else ')'}"
    if lo:
        return f" {'>=' if lo[1] else '>'} {lo[0]}"
    if hi:
        return f" {'<=' if hi[1] else '<'} {hi[0]}"
    return ""


def _length(metadata) -> str:
    lo = next((m.min_length for m in metadata if hasattr(m, "min_length")), None)
    hi = next((m.max_length for m in metadata if hasattr(m, "max_length")), None)
    if lo is not None and lo == hi:
        return f" of exactly {lo} items"
    if lo:
        return f" of at least {lo} item{'s' if lo > 1 else ''}"
    return ""


# ----------------------------------------------------------------------------- docs
def reference_markdown() -> str:
    """The net.yaml reference (docs/config.md), generated from the declarations above."""
    lines = ["# net.yaml reference", "",
             "Generated from `chipsim/config.py` (`python -m chipsim config-doc`). Unknown keys "
             "are errors; every key has the default shown unless marked required.", "",
             "| key | default | valid | meaning |", "|---|---|---|---|"]

    def visit(model: type[BaseModel], prefix: str):
        for name, field in model.model_fields.items():
            key = f"{prefix}{name}"
            base, _ = _unwrap(field.annotation)
            if isinstance(base, type) and issubclass(base, BaseModel):
                visit(base, key + ".")
                continue
            if typing.get_origin(base) is list:
                item, _ = _unwrap(typing.get_args(base)[0])
                if isinstance(item, type) and issubclass(item, BaseModel):
                    lines.append(f"| `{key}` | **required** | {_expectation(field.annotation, field.metadata)} "
                                 f"| {field.description} |")
                    visit(item, key + "[i].")
                    continue
            default = "**required**" if field.is_required() else f"`{_yaml_scalar(field.default)}`"
            lines.append(f"| `{key}` | {default} | {_expectation(field.annotation, field.metadata)} "
                         f"| {field.description} |")

    visit(Config, "")
    return "\n".join(lines) + "\n"


def _yaml_scalar(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
