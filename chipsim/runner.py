"""The one place that wires the stages: config -> data -> network -> model -> train -> report."""
from __future__ import annotations

import dataclasses
import math
import signal
import time
from pathlib import Path

import numpy as np
import yaml

from chipsim import __version__, checkpoint
from chipsim.chip.arrays import build_memories
from chipsim.chip.chip import Chip
from chipsim.chip.kernel_cache import compile_notice
from chipsim.chip.fixedpoint import Format
from chipsim.chip.formats import derive_formats
from chipsim.config import Config, size_problems, synapse_problems
from chipsim.data import Dataset, load_dataset
from chipsim.data.encoders import encode, encoded_range
from chipsim.errors import ChipsimError, ConfigError, DataError
from chipsim.float64 import Float64Model, single_threaded_blas
from chipsim.mapping.architecture import architecture_of, layers_from_specs, neuron_as_dict
from chipsim.mapping.load import load_model, trained_weight_formats
from chipsim.mapping.network import SYNAPTIC, Network, Neuron, build_network, fan_in
from chipsim.mapping.placement import (CoreSpec, Placement, Widths, place_network,
                                       synaptic_layers)
from chipsim.mapping.quantize import quantize_biases, quantize_weights
from chipsim.progress import progress
from chipsim.report.chip_section import chip_section
from chipsim.report.costs import cost_section, energy_tables, memory
from chipsim.report.estimate import estimate_inference
from chipsim.report.summary import mapping_markdown, summary_markdown
from chipsim.report.writer import write_json, write_npz, write_text
from chipsim.rules import FLOAT_RULES
from chipsim.rules.ottt import feedback_matrices
from chipsim.rules.ottt_chip import ottt_chip_rule
from chipsim.rules.sgd import SGD
from chipsim.rules.weight_standardization import Standardization
from chipsim.seeding import stream

# Test samples are encoded and simulated a chunk at a time: about 8 MiB of encoded input per
# chunk (float64 from an encoder; pre-encoded data in its own type), so the peak memory does
# not grow with T, and enough samples for the inference threads to share (the chunking changes
# no result: the encoder's generator draws the same stream however it is cut).
EVAL_CHUNK_BYTES = 8 << 20
EVAL_CHUNK_MAX = 2048


def eval_chunk(data: Dataset, timesteps: int) -> int:
    """Test samples per evaluation chunk (see EVAL_CHUNK_BYTES)."""
    value_bytes = data.x_test.itemsize if data.pre_encoded else 8
    return min(EVAL_CHUNK_MAX, max(1, EVAL_CHUNK_BYTES // (value_bytes * timesteps
                                                            * data.n_inputs)))


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
                "neuron": "readout" if layer.neuron == "readout" else None}
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


def model_yaml(network: Network, model) -> str:
    """weights.yaml of a run directory: the architecture of weights.npz and, on chip, the
    weight format of every layer, so the directory loads again as network.model."""
    arch = architecture_of(network)
    if isinstance(model, Chip):
        formats = {}
        for lf in model.formats.layers:
            formats[lf.name] = {"bits": lf.weight.bits, "frac": lf.weight.frac}
            if lf.bias is not None:
                formats[f"{lf.name}.bias"] = {"bits": lf.bias.bits, "frac": lf.bias.frac}
        arch["chip"] = {"weight_formats": formats}
    return ("# the architecture of weights.npz beside it (chipsim/mapping/architecture.py);\n"
            "# this run directory loads as a model: network.model: DIR, or chipsim map DIR\n"
            + yaml.safe_dump(arch, sort_keys=False))


def layer_neuron(network: Network, layer):
    """report.json's network.layers[].neuron: the neuron parameters of a spiking layer,
    'readout' for a non-spiking synaptic layer, None for pooling and flatten."""
    if layer.spiking:
        return {k: v if not isinstance(v, float) or math.isfinite(v) else str(v)  # JSON: no inf
                for k, v in neuron_as_dict(network.neuron_of(layer)).items()}
    return "readout" if layer.kind in SYNAPTIC else None


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
    return Float64Model(network, rule, SGD(opt.lr, opt.momentum, opt.weight_decay),
                        standardization, predict_spikes=predicts_by_spikes(config, network))


def run_label(config: Config) -> str:
    learn = config.learning
    rule = {"ottt": f"OTTT_{learn.variant} ({learn.error})", "bptt": "BPTT",
            "none": "inference only"}[learn.rule]
    return f"{config.chip.arithmetic} {rule}"


class Interrupted(ChipsimError):
    """The run was asked to stop (SIGINT / SIGTERM); a checkpoint and a partial report exist."""

    def __init__(self, signum: int, directory: Path):
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}: checkpoint and partial report in {directory}; "
                         f"continue with: python -m chipsim run NET.yaml --resume {directory}")
        self.exit_status = 128 + signum


def run(config: Config, name: str, out_dir: str | Path | None = None, echo=print,
        show_progress: bool | None = None, resume: bool = False, stop=lambda: 0) -> dict:
    """Train and evaluate as the config says; write the run directory; return the report.

    ``resume``: continue from the checkpoint in ``out_dir``. ``stop()`` is polled after every
    batch; a nonzero value (a signal number) checkpoints, writes a partial report and raises
    Interrupted.
    """
    with single_threaded_blas():
        return _run(config, name, out_dir, echo, show_progress, resume, stop)


def _run(config, name, out_dir, echo, show_progress, resume, stop) -> dict:
    started = time.perf_counter()
    out = Path(out_dir if out_dir is not None else config.output.dir.format(name=name))
    if config.chip.arithmetic == "fixed":
        energy_tables(config.chip)  # a user table is checked before any work
    data = load_dataset(config.data, config.seed)
    network = network_from_config(config, data)
    model = make_model(config, network, data)
    placement = place_on_chip(config, network, model.rule) if isinstance(model, Chip) else None
    timesteps, encoding = config.data.timesteps, config.data.encoding
    learn = config.learning
    epochs_to_train = learn.epochs if learn.rule != "none" else 0
    echo(f"{name}: {run_label(config)}, {data.n_inputs}-"
         f"{'-'.join(str(l.n_out) for l in network.layers)}, T={timesteps}, "
         f"{len(data.y_train)} train / {len(data.y_test)} test samples of {data.name}")
    if isinstance(model, Chip):
        notice = compile_notice(model.kernels(training=epochs_to_train > 0))
        if notice:
            echo(notice)
    if isinstance(model, Chip) and requantization_line(model.quantization):
        echo(requantization_line(model.quantization))

    def evaluate(record=()):
        rng = stream(config.seed, "encode-test")
        preds, kept = [], {}
        chunk = eval_chunk(data, timesteps)
        for start in range(0, len(data.y_test), chunk):
            x = encode(data.x_test[start:start + chunk], timesteps, encoding, rng)
            p, k = model.infer(x, record)
            preds.append(p)
            for key, value in k.items():
                kept.setdefault(key, []).append(value)
        acc = float(np.mean(np.concatenate(preds) == data.y_test))
        return acc, {k: np.concatenate(v) for k, v in kept.items()}

    def encoder_stream(epoch, batch):  # only rate coding draws; a generator costs 20 us
        draws = encoding == "rate" and not data.pre_encoded
        return stream(config.seed, "encode", epoch, batch) if draws else None

    n_train = len(data.y_train)
    batches = -(-n_train // learn.batch_size)
    if resume:
        position, arrays = checkpoint.load(out, config)
        checkpoint.restore_arrays(model.state(), arrays, out)
        echo(f"  resuming at epoch {position['epoch']}, batch {position['batch']} of {batches}")
    else:
        # with nothing to train, the final evaluation is also epoch 0's (simulated once)
        position = {"epoch": 1, "batch": 0, "correct": 0, "since_checkpoint": 0,
                    "epochs": [{"epoch": 0, "train_accuracy": None,
                                "test_accuracy": evaluate()[0] if epochs_to_train else None,
                                "seconds": 0.0}]}
        if isinstance(model, Chip) and epochs_to_train:  # activity right after quantization
            position["initial_spike_rates"] = model.spike_rates(model.inference_counts)
    epochs = position["epochs"]

    def save_checkpoint():
        checkpoint.save(out, config, position, model.state())
        position["since_checkpoint"] = 0

    while position["epoch"] <= epochs_to_train:
        epoch = position["epoch"]
        t0 = time.perf_counter()
        order = (stream(config.seed, "order", epoch).permutation(n_train) if learn.shuffle
                 else np.arange(n_train))
        with progress(n_train, f"epoch {epoch}/{epochs_to_train}", show_progress) as bar:
            bar.update(min(n_train, position["batch"] * learn.batch_size))
            while position["batch"] < batches:
                b = position["batch"]
                idx = order[b * learn.batch_size:(b + 1) * learn.batch_size]
                x = encode(data.x_train[idx], timesteps, encoding,
                           encoder_stream(epoch, b))
                position["correct"] += int(np.sum(model.train_batch(x, data.y_train[idx])
                                                  == data.y_train[idx]))
                position["batch"] = b + 1
                position["since_checkpoint"] += len(idx)
                bar.update(len(idx))
                signum = stop()
                if signum:
                    save_checkpoint()
                    _write_partial(out, name, config, epochs, signum)
                    raise Interrupted(signum, out)
                every = config.output.checkpoint_every
                if every and position["since_checkpoint"] >= every:
                    save_checkpoint()
        train_seconds = time.perf_counter() - t0
        test_acc = evaluate()[0]
        correct = position["correct"]
        epochs.append({"epoch": epoch, "train_accuracy": correct / n_train,
                       "test_accuracy": test_acc, "seconds": train_seconds,
                       "train_samples_per_second": n_train / train_seconds})
        echo(f"  epoch {epoch:3d}  train {100 * correct / n_train:6.2f} %  "
             f"test {100 * test_acc:6.2f} %  {train_seconds:6.1f} s")
        position.update(epoch=epoch + 1, batch=0, correct=0)

    model.reset_inference_counts()
    final_test, recordings = evaluate(tuple(config.output.record))  # the pass counts describe
    if not epochs_to_train:
        epochs[0]["test_accuracy"] = final_test
        if isinstance(model, Chip):
            position["initial_spike_rates"] = model.spike_rates(model.inference_counts)
    report = {
        "chipsim_version": __version__,
        "name": name,
        "complete": True,
        "config": config.model_dump(mode="json"),
        "run": {"label": run_label(config), "arithmetic": config.chip.arithmetic,
                "rule": learn.rule, "variant": learn.variant, "error": learn.error},
        "data": {"name": data.name, "n_train": n_train, "n_test": len(data.y_test),
                 "n_inputs": data.n_inputs, "n_classes": data.n_classes,
                 "timesteps": timesteps,
                 "encoding": "pre-encoded (used as-is)" if data.pre_encoded else encoding},
        "network": {"layers": [{"name": l.name, "n_in": l.n_in, "n_out": l.n_out,
                                "neuron": layer_neuron(network, l)}
                               for l in network.layers],
                    "parameters": int(sum(w.size for w in network.weights.values())
                                      + sum(b.size for b in network.biases.values()))},
        "epochs": epochs,
        "final": {"test_accuracy": final_test,
                  "train_accuracy": epochs[-1]["train_accuracy"]},
        "seconds": time.perf_counter() - started,
    }
    if isinstance(model, Chip):
        report["chip"] = chip_section(model, quantization=model.quantization,
                                      train_samples=n_train * epochs_to_train,
                                      test_samples=len(data.y_test))
        rates = position.get("initial_spike_rates", {})
        report["chip"]["spike_rates_after_quantization"] = rates
        report["chip"]["silent_layers_after_quantization"] = [k for k, v in rates.items() if v == 0]
        for name in report["chip"]["silent_layers_after_quantization"]:
            echo(f"  warning: layer '{name}' did not spike on the test set after quantization "
                 "(weights too coarse for its threshold?)")
        report["costs"] = cost_section(placement, model, config.chip, learn,
                                       train_samples=n_train * epochs_to_train,
                                       test_samples=len(data.y_test), timesteps=timesteps,
                                       n_inputs=data.n_inputs)
    weights, biases = model.weights()
    # effective weights under the layer names (what map and other runs compute with); raw
    # weights and gains beside them so init.weights continues a standardized run exactly
    extra = model.reparameterization() if isinstance(model, Float64Model) else {}
    write_npz(out / "weights.npz", {**weights, **{f"{k}.bias": v for k, v in biases.items()},
                                    **extra})
    write_text(out / "weights.yaml", model_yaml(network, model))
    if recordings:
        write_npz(out / "record.npz", recordings)
    if config.output.plots:
        from chipsim.report import plots  # matplotlib costs 0.5 s to import: only when plotting

        plots.learning_curve(report, out / "learning_curve.png")
        if "costs" in report:
            plots.energy_breakdown(report["costs"], out / "energy_breakdown.png")
            plots.memory_per_core(report["costs"], out / "memory_per_core.png")
            plots.cycles_per_phase(report["costs"], out / "cycles_per_phase.png")
            plots.memory_vs_timesteps(report["costs"], out / "memory_vs_T.png")
            one = encode(data.x_test[:1], timesteps, encoding, stream(config.seed, "encode-test"))
            _, kept = model.infer(one, ("spikes",))
            plots.spike_raster({k.removesuffix(".spikes"): v[0] for k, v in kept.items()},
                               out / "spike_raster.png")
    write_text(out / "summary.md", summary_markdown(report))
    report["seconds"] = time.perf_counter() - started
    write_json(out / "report.json", report)
    if (out / checkpoint.FILE).exists():
        (out / checkpoint.FILE).unlink()  # the run is complete: report and weights supersede it
    echo(f"test accuracy {100 * report['final']['test_accuracy']:.2f} % "
         f"({report['seconds']:.1f} s) -> {out}")
    return report


def _write_partial(out: Path, name: str, config: Config, epochs: list, signum: int) -> None:
    """report.json of an interrupted run: what is known so far, marked incomplete."""
    write_json(out / "report.json", {
        "chipsim_version": __version__, "name": name, "complete": False,
        "interrupted_by": signal.Signals(signum).name,
        "config": config.model_dump(mode="json"), "epochs": epochs})


def map_model(config: Config, out_dir: str | Path, *, rate: float, input_rate: float,
              echo=print) -> dict:
    """``python -m chipsim map``: place a trained network on the chip and estimate one
    inference at stated spike rates; writes mapping.json and mapping.md to ``out_dir``."""
    chip, bits = config.chip, config.chip.bits
    nir = config.network.nir
    network = load_model(config.network.model, nir.convention, nir.dt)
    mapped = synaptic_layers(network.layers)
    placement = place_on_chip(config, network, None)  # inference: no learning memories
    timesteps = config.data.timesteps
    inference = estimate_inference(placement, mapped, input_rate=input_rate, rate=rate,
                                   timesteps=timesteps, chip_cfg=chip)
    mem = memory(placement, weight_bits=bits.weight, membrane_bits=bits.membrane,
                 error_bits=bits.error, accumulator_bits=bits.accumulator,
                 input_bits=bits.input, n_inputs=network.n_inputs, timesteps=timesteps,
                 layers=[(ml.n_in, ml.n_out) for ml in mapped])
    layers = []
    for l, ml in enumerate(mapped):
        cores = placement.cores_of(l)
        layers.append({"name": ml.name, "kind": ml.kind, "neurons": ml.n_out,
                       "presynaptic": ml.n_in, "cores": len(cores),
                       "input_groups": len({c.in_group for c in cores}),
                       "synapses": int(sum(c.synapses for c in cores)),
                       "sram_bits": int(sum(c.memory["sram_used"] for c in cores))})
    report = {"chipsim_version": __version__, "model": str(config.network.model),
              "config": config.model_dump(mode="json"),
              "nir_convention": nir.convention if str(config.network.model).endswith(".nir")
              else None,
              "placement": {"mesh": list(placement.mesh), "cores_used": len(placement.cores),
                            "cores_available": placement.mesh[0] * placement.mesh[1],
                            "conv_weights": chip.conv_weights, "layers": layers},
              "memory": mem, "inference": inference}
    out = Path(out_dir)
    write_json(out / "mapping.json", report)
    write_text(out / "mapping.md", mapping_markdown(report))
    if config.output.plots:
        from chipsim.report import plots

        plots.memory_per_core({"memory": mem}, out / "memory_per_core.png")
    echo(mapping_markdown(report, brief=True))
    echo(f"-> {out}")
    return report
