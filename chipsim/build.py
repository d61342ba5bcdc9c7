"""From a config to a model that runs: the network sized to the data, quantized onto the
chip (or the float64 reference), and its placement on the mesh. No training here."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from chipsim.chip.arrays import build_memories
from chipsim.chip.chip import Chip
from chipsim.chip.fixedpoint import Format
from chipsim.chip.formats import derive_formats
from chipsim.config import Config, size_problems, synapse_problems
from chipsim.data import Dataset
from chipsim.data.encoders import encoded_range
from chipsim.errors import ConfigError, DataError
from chipsim.float64 import Float64Model
from chipsim.mapping.architecture import layers_from_specs
from chipsim.mapping.load import load_model, trained_weight_formats
from chipsim.mapping.network import SYNAPTIC, Network, Neuron, build_network, fan_in
from chipsim.mapping.placement import CoreSpec, Placement, Widths, place_network
from chipsim.mapping.quantize import quantize_biases, quantize_weights
from chipsim.rules import FLOAT_RULES
from chipsim.rules.ottt import feedback_matrices
from chipsim.rules.ottt_chip import ottt_chip_rule
from chipsim.rules.sgd import SGD
from chipsim.rules.weight_standardization import Standardization


def network_from_config(config: Config, data: Dataset) -> Network:
    """The network the config describes, sized to the data; checks labels fit the read-out."""
    problems = size_problems(config, data.n_inputs)
    if problems:
        raise ConfigError("the network is too large for this machine:\n"
                          + "\n".join(f"  {p}" for p in problems))
    if config.network.model is not None:
        return imported_network(config, data)
    net = config.network
    names = config.layer_names()
    shape = net.input_shape or [data.n_inputs]
    if math.prod(shape) != data.n_inputs:
        raise ConfigError(f"network.input_shape: {shape} holds {math.prod(shape)} values, the "
                          f"data's inputs have {data.n_inputs}")
    neuron = neuron_from_config(net.neuron, Neuron())
    specs = []
    for name, layer in zip(names, net.layers):
        spec = {"name": name, "type": layer.type, "units": layer.units,
                "channels": layer.channels, "kernel": layer.kernel, "padding": layer.padding,
                "neuron": "readout" if layer.neuron == "readout" else None,
                "recurrent": layer.recurrent}
        if not isinstance(layer.neuron, str):
            spec["neuron"] = dataclasses.asdict(neuron_from_config(layer.neuron, neuron))
        if layer.stride is not None:
            spec["stride"] = layer.stride
        specs.append(spec)
    layers = layers_from_specs(shape, specs, neuron, "network.layers")
    problems = synapse_problems(sum(l.n_out * fan_in(l) for l in layers if l.kind in SYNAPTIC))
    if problems:
        raise ConfigError("the network is too large for this machine:\n  " + problems[0])
    if data.n_classes > layers[-1].n_out:
        raise DataError(f"network.layers.{len(names) - 1} ('{names[-1]}'): the read-out has "
                        f"{layers[-1].n_out} outputs but the data has labels up to "
                        f"{data.n_classes - 1}; use units: {data.n_classes} or more")
    return build_network(data.n_inputs, layers, neuron, net.bias, config.seed,
                         net.init.gain, net.init.weights)


def neuron_from_config(section, base: Neuron) -> Neuron:
    """A Neuron from network.neuron or a layer's neuron keys (None: keep ``base``'s);
    model 'if' is a neuron without leak (tau = inf)."""
    given = {k: v for k, v in section.model_dump().items() if v is not None}
    model = given.pop("model", None)
    neuron = dataclasses.replace(base, **given)
    if model == "if":
        neuron = dataclasses.replace(neuron, tau=math.inf)
    elif model == "lif" and math.isinf(neuron.tau):
        neuron = dataclasses.replace(neuron, tau=given.get("tau", Neuron().tau))
    return neuron


def imported_network(config: Config, data: Dataset) -> Network:
    """network.model loaded, checked against the data and against what can run."""
    nir = config.network.nir
    network = load_model(config.network.model, nir.convention, nir.dt)
    where = f"network.model '{config.network.model}'"
    if network.n_inputs != data.n_inputs:
        raise DataError(f"{where} takes {network.n_inputs} inputs, the data has "
                        f"{data.n_inputs}")
    if data.n_classes > network.n_outputs:
        raise DataError(f"{where} has {network.n_outputs} outputs, the data has labels up "
                        f"to {data.n_classes - 1}")
    neurons = {network.neuron_of(l) for l in network.layers if l.spiking}
    if len(neurons) == 1:
        network = dataclasses.replace(network, neuron=neurons.pop())
    return network


def make_model(config: Config, network: Network, data: Dataset):
    """The model that learns: the fixed-point chip or the float64 reference."""
    learn = config.learning
    cuba = [layer for layer in network.synaptic
            if layer.spiking and network.neuron_of(layer).tau_syn > 1.0]
    if cuba and learn.rule == "ottt" and config.chip.arithmetic == "fixed":
        raise ConfigError(
            f"layer '{cuba[0].name}' has a synaptic current (tau_syn "
            f"{network.neuron_of(cuba[0]).tau_syn:g}): on the chip, OTTT's presynaptic "
            "traces for a CUBA neuron (a second, cascaded trace register per axon) are not "
            "built; train it with chip.arithmetic: float64 (OTTT or BPTT) and run the trained "
            "weights on the chip with learning.rule: none, or use tau_syn: 1")
    if (cuba and learn.rule == "ottt" and cuba[0] is network.synaptic[0]
            and not config.network.input_trace):
        raise ConfigError(
            f"layer '{cuba[0].name}' is a first layer with a synaptic current: OTTT learns "
            "its weights from the trace of the inputs filtered by the current (the raw input "
            "that a LIF first layer may use would leave the current's filter out); set "
            "network.input_trace: true")
    hidden = [layer.n_out for layer in network.synaptic if layer.spiking]
    feedback = (feedback_matrices(hidden, network.n_outputs, config.seed)
                if learn.rule == "ottt" and learn.error == "broadcast" else None)
    if config.chip.arithmetic == "fixed":
        return make_chip(config, network, data, feedback)
    return make_float_model(config, network, feedback)


def make_chip(config: Config, network: Network, data: Dataset, feedback) -> Chip:
    """Quantize the network into the chip's formats and load it with the rule's memories."""
    learn, timesteps = config.learning, config.data.timesteps
    # the formats hold what reaches the chip: the encoder's output, not the raw data
    input_min, input_max, binary = encoded_range(data.x_train, config.data.encoding)
    trained = imported_formats(config)
    formats = derive_formats(config.chip, learn, network, input_max=input_max,
                             input_min=input_min, binary_input=binary, timesteps=timesteps,
                             input_trace=config.network.input_trace,
                             feedback=feedback or (), trained_weights=trained)
    weights, quantization = quantize_weights(network, formats, trained)
    biases, bias_quantization = quantize_biases(network, formats, trained)
    rule = (ottt_chip_rule(learn.variant, learn.error, config.network.input_trace)
            if learn.rule == "ottt" else None)
    fb_ints = [f.quantize(b)[0] for f, b in zip(formats.feedback, feedback or ())]
    memories = build_memories(formats, weights, rounding=config.chip.rounding,
                              alpha=learn.surrogate.alpha, mse_weight=learn.loss.mse_weight,
                              seed=config.seed,
                              accumulators=rule is not None and "accumulators" in rule.needs,
                              input_trace=config.network.input_trace, feedback=fb_ints,
                              overflow=config.chip.overflow_policies(), chain=network.chain,
                              biases=biases, predict_spikes=predicts_by_spikes(config, network))
    return Chip([l.name for l in network.synaptic], formats, memories, rule,
                quantization=quantization + bias_quantization)


def predicts_by_spikes(config: Config, network: Network) -> bool:
    """The class is the output layer's largest spike count (a spiking output layer unless
    network.prediction says membrane)."""
    return network.synaptic[-1].spiking and config.network.prediction == "spike_count"


def imported_formats(config: Config) -> dict[str, Format]:
    """Per layer the weight format of an imported chipsim run's chip ({} otherwise): its
    layers keep their trained integers on the same chip (see formats.weight_fraction)."""
    if config.network.model is None:
        return {}
    return {name: Format(f["bits"], f["frac"])
            for name, f in trained_weight_formats(config.network.model).items()}


def requantization_line(quantization: list[dict]) -> str | None:
    """One printed line when imported trained weights changed format (None when kept)."""
    changed = [q for q in quantization if q.get("requantized")]
    if not changed:
        return None
    return "  re-quantized the trained weights: " + "; ".join(
        f"{q['layer']} {q['trained_format'].split()[0]} -> {q['format'].split()[0]} "
        f"({q['saturated']} saturated, rms error {q['rms_error']:.3g})" for q in changed)


def place_on_chip(config: Config, network: Network, rule) -> Placement:
    """Split and place the layers on the mesh with the memories ``rule`` needs (None:
    inference only); DoesNotFitError (exit 3) when they do not fit."""
    chip, bits = config.chip, config.chip.bits
    needs = rule.needs if rule is not None else frozenset()
    return place_network(network.layers,
                 Widths(bits.weight, bits.membrane, bits.trace, bits.error, bits.accumulator,
                        bits.bias),
                 CoreSpec(chip.core.neurons, chip.core.axons,
                          chip.core.synapse_memory_kib * 8192, chip.core.word_bits),
                 tuple(chip.mesh), classes=network.n_outputs,
                 accumulators="accumulators" in needs, feedback="feedback" in needs,
                 transposed_copy=chip.backward == "copy" and rule is not None,
                 traces="traces" in needs, error_registers="error_registers" in needs,
                 input_trace="input_trace" in needs, conv_weights=chip.conv_weights,
                 split_fan_in=chip.split_fan_in, biased=frozenset(network.biases))


def make_float_model(config: Config, network: Network, feedback) -> Float64Model:
    learn, timesteps = config.learning, config.data.timesteps
    rule = None
    neurons = [network.neuron_of(layer) for layer in network.synaptic]
    if learn.rule == "ottt":
        rule = FLOAT_RULES["ottt"](
            variant=learn.variant, error=learn.error, alpha=learn.surrogate.alpha,
            threshold=[n.threshold for n in neurons], mse_weight=learn.loss.mse_weight,
            timesteps=timesteps, input_trace=config.network.input_trace, feedback=feedback,
            chain=network.chain)
    elif learn.rule == "bptt":
        if network.synaptic[-1].spiking:
            raise ConfigError(
                f"learning.rule: bptt differentiates a non-spiking read-out; the output layer "
                f"'{network.synaptic[-1].name}' spikes (its membrane carries over steps, which "
                "this BPTT does not follow): use rule ottt, or neuron: readout on the last layer")
        rule = FLOAT_RULES["bptt"](
            alpha=learn.surrogate.alpha, neurons=neurons, detach_reset=learn.detach_reset,
            mse_weight=learn.loss.mse_weight, timesteps=timesteps, chain=network.chain)
    opt = learn.optimizer
    ws = config.network.weight_standardization
    standardization = (Standardization.authors(len(network.synaptic), ws.eps, ws.scale,
                                               ws.readout) if ws.enabled else None)
    optimizer = SGD(opt.lr, opt.momentum, opt.weight_decay, opt.max_grad_norm)
    return Float64Model(network, rule, optimizer, standardization,
                        predict_spikes=predicts_by_spikes(config, network))


def run_name(config) -> str:
    """A run's name: its config file's stem ('chipsim' for a dict or Config), with any byte
    that is not UTF-8 shown as U+FFFD (a name goes into JSON, summaries and figures)."""
    if not isinstance(config, (str, Path)):
        return "chipsim"
    return clean_name(Path(config).stem)


def clean_name(name: str) -> str:
    """``name`` with undecodable bytes (surrogate escapes from the file system) replaced."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def run_label(config: Config) -> str:
    learn = config.learning
    rule = {"ottt": f"OTTT_{learn.variant} ({learn.error})", "bptt": "BPTT",
            "none": "inference only"}[learn.rule]
    return f"{config.chip.arithmetic} {rule}"
