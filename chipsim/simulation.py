"""A network on the simulated chip (or the float64 reference) together with its data: the
object the Python API, the CLI and the sweeps drive. Train it, evaluate it, read its event
counters and costs, and save it as a run directory."""
from __future__ import annotations

import functools
import importlib
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from chipsim import __version__
from chipsim.build import (clean_name, make_model, network_from_config, place_on_chip,
                           requantization_line, run_label, run_name)
from chipsim.chip.chip import Chip
from chipsim.chip.kernel_cache import compile_notice, compile_timer, record_compile_seconds
from chipsim.config import Config, load_config
from chipsim.data import Dataset, load_dataset
from chipsim.data.encoders import encode
from chipsim.errors import ConfigError, SimulationError
from chipsim.float64 import Float64Model, single_threaded_blas
from chipsim.memory_budget import require
from chipsim.mapping.architecture import architecture_of, neuron_as_dict
from chipsim.mapping.network import SYNAPTIC, Network
from chipsim.progress import progress
from chipsim.report.chip_section import chip_section
from chipsim.report.costs import cost_section, energy_tables
from chipsim.report.neurobench import neurobench_metrics
from chipsim.report.summary import summary_markdown
from chipsim.report.writer import write_json, write_npz, write_text
from chipsim.rules.loss import sample_losses
from chipsim.seeding import stream

# Test samples are encoded and simulated a chunk at a time: about 8 MiB of what a chunk holds
# at once, so the peak memory does not grow with T, and enough samples for the inference
# threads to share (the chunking changes no result: the encoder's generator draws the same
# stream however it is cut).
EVAL_CHUNK_BYTES = 8 << 20
EVAL_CHUNK_MAX = 2048


def eval_chunk(data: Dataset, timesteps: int, encoding: str, classes: int) -> int:
    """Test samples per evaluation chunk (see EVAL_CHUNK_BYTES): a chunk holds the input when
    an encoder draws it (float64; pre-encoded and direct-coded inputs are views, which the
    chip converts a few samples at a time) and, on the float64 reference, the outputs u[t]
    the loss is computed from (the chip reduces them to losses as it makes them)."""
    per_step = 16 * classes
    if not data.pre_encoded and encoding != "direct":
        per_step += 8 * data.n_inputs
    return min(EVAL_CHUNK_MAX, max(1, EVAL_CHUNK_BYTES // (per_step * timesteps)))


# the columns of metrics.csv (keys of the epoch records)
METRICS = ("epoch", "train_accuracy", "test_accuracy", "train_loss", "test_loss", "seconds",
           "wall_seconds")


@dataclass
class Evaluation:
    """One pass over the test set with frozen weights."""
    accuracy: float                   # fraction of test samples classified correctly
    loss: float                       # mean over test samples of OTTT's loss (rules.loss)
    recordings: dict = field(default_factory=dict)  # '<layer>.spikes' / '.membrane': (N, T, units)


def _timing_compiles(method):
    """Add the numba compile time inside ``method`` to ``Simulation.compile_seconds`` (once
    when such methods nest) and keep it for the next cold start's notice."""
    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        if self._timing:
            return method(self, *args, **kwargs)
        self._timing = True
        try:
            with compile_timer() as timer:
                result = method(self, *args, **kwargs)
        finally:
            self._timing = False
        if timer.seconds:
            self.compile_seconds += timer.seconds
            record_compile_seconds(self.compile_seconds)
        return result
    return timed


class Simulation:
    """A network and its data on the chip the config describes (``chip.arithmetic: fixed``)
    or on the float64 reference.

    ``config``: a net.yaml path, a dict of sections or a Config; ``overrides``: ``KEY=VALUE``
    strings as the CLI's ``--set``. Building loads the data, sizes and quantizes the network
    and places it on the mesh (ConfigError / DataError: bad input; DoesNotFitError: the
    network does not fit the chip). Nothing is simulated until ``train`` or ``evaluate``.
    """

    def __init__(self, config, name: str | None = None, overrides: list[str] = ()):
        self.config: Config = load_config(config, overrides)
        self.name = run_name(config) if name is None else clean_name(name)
        self.started = time.perf_counter()
        if self.config.chip.arithmetic == "fixed":
            energy_tables(self.config.chip)  # a user table is checked before any work
        self.data: Dataset = load_dataset(self.config.data, self.config.seed)
        self.network: Network = network_from_config(self.config, self.data)
        self._check_run_memory()
        self.model = make_model(self.config, self.network, self.data)
        self.placement = (place_on_chip(self.config, self.network, self.model.rule)
                          if self.chip is not None else None)
        # where training stands; a checkpoint stores it (chipsim.checkpoint)
        self.position = {"epoch": 1, "batch": 0, "correct": 0, "loss_sum": 0.0,
                         "since_checkpoint": 0, "epochs": []}
        self.last_evaluation: Evaluation | None = None
        self._evaluated_after = -1  # epochs trained when the last evaluation ran
        # seconds numba spent compiling kernels for this simulation (0.0: all from its cache)
        self.compile_seconds = 0.0
        self._timing = False

    # bytes per recorded value at the peak (chunks of int64, their real-valued copies and the
    # concatenation of all chunks); spikes are uint8
    RECORD_BYTES = {"spikes": 2, "membrane": 24}

    def _check_run_memory(self) -> None:
        """``memory_estimate`` against the memory left, before any work (TooLargeError,
        exit 3, naming the largest part)."""
        parts = self.memory_estimate()
        largest = max(parts, key=parts.get)
        require(sum(parts.values()), f"this run (mostly {largest})",
                "use fewer time steps, a smaller batch or test set, or record less")

    def memory_estimate(self) -> dict[str, int]:
        """Bytes the run allocates besides the synapses (checked when the network is built)
        and the data, by part: output.record's recordings of every layer, sample and step; a
        training batch encoded for T steps (float64, and its payloads) with its outputs kept
        for the loss; BPTT's stored steps; the neuron registers. (An upper bound of the
        peak: tests/test_file_sizes.py measures it.)"""
        config, data = self.config, self.data
        record = tuple(config.output.record)
        steps, batch = config.data.timesteps, config.learning.batch_size
        units = sum(l.n_out for l in self.network.layers if l.kind in SYNAPTIC)
        classes, n_test = self.network.layers[-1].n_out, len(data.y_test)
        parts = {
            f"output.record {list(record)} ({n_test} test samples x T = {steps} x {units} "
            "units)": n_test * steps * units * sum(self.RECORD_BYTES[r] for r in record),
            f"a training batch ({batch} samples x T = {steps} x {data.n_inputs} inputs, "
            "encoded, with its outputs)": batch * steps * (16 * data.n_inputs + 16 * classes),
            "the neuron registers": 12 * 8 * units,
        }
        if config.learning.rule == "bptt":
            # every step's record (each layer's inputs; each unit's u, spike and trace), then
            # the backward pass's stacked copies and gradients: float64, measured 12.7 KB a
            # sample-step on digits (192 inputs, 138 units), where this gives 14.1 KB
            inputs = sum(l.n_in for l in self.network.layers if l.kind in SYNAPTIC)
            parts[f"BPTT's {steps} stored steps ({batch} samples x {units} units)"] = \
                8 * batch * steps * (2 * inputs + 10 * units)
        return parts

    # ------------------------------------------------------------------ what it is
    @property
    def chip(self) -> Chip | None:
        """The fixed-point chip (None on the float64 reference)."""
        return self.model if isinstance(self.model, Chip) else None

    @property
    def epochs(self) -> list[dict]:
        """One record per evaluated epoch (epoch 0: before training): train accuracy and loss
        (online, while learning), test accuracy and loss, train seconds, samples per
        second. The loss is OTTT's (rules.loss): per sample, the sum over steps of
        ((1 - m) cross-entropy + m MSE) / T of the output layer's u[t]."""
        return self.position["epochs"]

    @property
    def epochs_trained(self) -> int:
        return self.position["epoch"] - 1

    @property
    def label(self) -> str:
        """What runs, e.g. 'fixed OTTT_A (backprop)'."""
        return run_label(self.config)

    def shape(self) -> str:
        """Inputs and units per layer, e.g. '64-128-10'."""
        return "-".join([str(self.data.n_inputs)] + [str(l.n_out) for l in self.network.layers])

    def __repr__(self) -> str:
        d = self.data
        return (f"Simulation({self.name!r}: {self.label}, {self.shape()}, "
                f"T={self.config.data.timesteps}, {d.name} {len(d.y_train)} train / "
                f"{len(d.y_test)} test, {self.epochs_trained} of "
                f"{self.config.learning.epochs} epochs trained)")

    def compile_notice(self, training: bool = True) -> str | None:
        """A line to show before the chip's kernels compile (None: they are cached)."""
        if self.chip is None:
            return None
        return compile_notice(self.chip.kernels(training=training and self._learns()))

    def requantization_note(self) -> str | None:
        """A line when imported trained weights changed format on the chip (None: kept)."""
        return requantization_line(self.chip.quantization) if self.chip is not None else None

    def _learns(self) -> bool:
        return self.config.learning.rule != "none"

    # ------------------------------------------------------------------ running
    @_timing_compiles
    def evaluate(self, record: tuple[str, ...] = (), after_chunk=None) -> Evaluation:
        """Classify the test set with frozen weights. ``record``: 'spikes' and/or 'membrane'
        of every layer, every sample and step. The chip's inference counters then describe
        this pass. The first evaluation before any training is epoch 0's. ``after_chunk(self)``
        is called after every chunk of test samples (the CLI honours signals there)."""
        config, data = self.config, self.data
        timesteps = config.data.timesteps
        if self.chip is not None:
            self.chip.reset_inference_counts()
        rng = stream(config.seed, "encode-test")
        preds, kept, loss = [], {}, 0.0
        chunk = eval_chunk(data, timesteps, config.data.encoding, self.network.layers[-1].n_out)
        with single_threaded_blas():
            for start in range(0, len(data.y_test), chunk):
                x = encode(data.x_test[start:start + chunk], timesteps, config.data.encoding, rng)
                labels, weight = data.y_test[start:start + chunk], config.learning.loss.mse_weight
                p, k = self.model.infer(x, record, lambda o, a, b, y=labels: sample_losses(
                    o, y[a:b], weight))
                loss += float(k.pop("loss").sum())
                preds.append(p)
                for key, value in k.items():
                    kept.setdefault(key, []).append(value)
                if after_chunk is not None:
                    after_chunk(self)
        accuracy = float(np.mean(np.concatenate(preds) == data.y_test))
        self.last_evaluation = Evaluation(accuracy, loss / len(data.y_test),
                                          {k: np.concatenate(v) for k, v in kept.items()})
        self._evaluated_after = self.epochs_trained
        if not self.epochs:  # before any training: epoch 0, and the activity after quantization
            self.epochs.append({"epoch": 0, "train_accuracy": None, "test_accuracy": accuracy,
                                "train_loss": None, "test_loss": self.last_evaluation.loss,
                                "seconds": 0.0,
                                "wall_seconds": time.perf_counter() - self.started})
            if self.chip is not None:
                self.position["initial_spike_rates"] = self.chip.spike_rates(
                    self.chip.inference_counts)
        return self.last_evaluation

    @_timing_compiles
    def train(self, epochs: int | None = None, *, show_progress: bool | None = None,
              after_batch=None, after_epoch=None, echo=None) -> list[dict]:
        """Learn ``epochs`` more epochs (default: up to ``learning.epochs``), each followed
        by a test evaluation; returns their records (see ``epochs``). Before the first epoch
        the untrained network is evaluated (epoch 0). ``after_batch(self)`` is called after
        every batch (the CLI checkpoints there), ``after_epoch(self)`` after every epoch;
        ``echo`` prints a line per epoch."""
        learn = self.config.learning
        if not self._learns():
            if epochs:
                raise ConfigError("learning.rule: none trains nothing; use ottt (or bptt on "
                                  "float64) to train")
            return []
        target = learn.epochs if epochs is None else self.epochs_trained + epochs
        data, position = self.data, self.position
        if self.config.output.plots and "chipsim.report.plots" not in sys.modules:
            # matplotlib takes about 1 s to import: a thread does it while the training
            # kernel runs (it releases the GIL), so the figures at the end start at once
            threading.Thread(target=importlib.import_module, args=("chipsim.report.plots",),
                             daemon=True).start()
        timesteps, encoding = self.config.data.timesteps, self.config.data.encoding
        if not self.epochs:
            if self.chip is not None:  # a cold first run: compile both kernels side by side
                self.chip.compile_training_elsewhere()
            self.evaluate(after_chunk=after_batch)
        n_train = len(data.y_train)
        batches = -(-n_train // learn.batch_size)
        trained = []
        while position["epoch"] <= target:
            epoch = position["epoch"]
            t0 = time.perf_counter()
            order = (stream(self.config.seed, "order", epoch).permutation(n_train)
                     if learn.shuffle else np.arange(n_train))
            with progress(n_train, f"epoch {epoch}/{target}", show_progress) as bar, \
                    single_threaded_blas():
                bar.update(min(n_train, position["batch"] * learn.batch_size))
                while position["batch"] < batches:
                    b = position["batch"]
                    idx = order[b * learn.batch_size:(b + 1) * learn.batch_size]
                    x = encode(data.x_train[idx], timesteps, encoding,
                               self._encoder_stream(epoch, b))
                    labels = data.y_train[idx]
                    preds = self.model.train_batch(x, labels, outputs=True)
                    position["correct"] += int(np.sum(preds == labels))
                    loss = float(sample_losses(self.model.last_outputs, labels,
                                               learn.loss.mse_weight).sum())
                    if not math.isfinite(loss):
                        raise SimulationError(
                            f"training diverged in epoch {epoch}, batch {b + 1} of {batches}: "
                            f"the loss is {loss} (the weights grew without bound); lower "
                            f"learning.optimizer.lr (now {learn.optimizer.lr:g})")
                    position["loss_sum"] = position.get("loss_sum", 0.0) + loss
                    position["batch"] = b + 1
                    position["since_checkpoint"] += len(idx)
                    bar.update(len(idx))
                    if after_batch is not None:
                        after_batch(self)
            seconds = time.perf_counter() - t0
            test = self.evaluate(after_chunk=after_batch)
            record = {"epoch": epoch, "train_accuracy": position["correct"] / n_train,
                      "test_accuracy": test.accuracy,
                      "train_loss": position.get("loss_sum", 0.0) / n_train,
                      "test_loss": test.loss, "seconds": seconds,
                      "train_samples_per_second": n_train / seconds,
                      "wall_seconds": time.perf_counter() - self.started}
            self.epochs.append(record)
            trained.append(record)
            if echo is not None:
                echo(f"  epoch {epoch:3d}  train {100 * record['train_accuracy']:6.2f} % "
                     f"(loss {record['train_loss']:.3f})  test {100 * test.accuracy:6.2f} % "
                     f"(loss {test.loss:.3f})  {seconds:6.1f} s")
            position.update(epoch=epoch + 1, batch=0, correct=0, loss_sum=0.0)
            if after_epoch is not None:
                after_epoch(self)
        return trained

    def _encoder_stream(self, epoch: int, batch: int):
        """The generator of a batch's rate coding (None when nothing draws: a generator
        costs 20 us)."""
        draws = self.config.data.encoding == "rate" and not self.data.pre_encoded
        return stream(self.config.seed, "encode", epoch, batch) if draws else None

    def _current_evaluation(self) -> Evaluation:
        """The last evaluation if it follows the last training, else a new one."""
        if self.last_evaluation is None or self._evaluated_after != self.epochs_trained:
            self.evaluate()
        return self.last_evaluation

    # ------------------------------------------------------------------ reading out
    @property
    def counters(self) -> dict:
        """The chip's event counts, {'training': {layer: {event: n}}, 'inference': ...}
        (training: every sample learned so far; inference: the last test pass). The float64
        reference counts nothing: {}."""
        return self.chip.counts() if self.chip is not None else {}

    def costs(self) -> dict:
        """Energy (pJ), cycles and memory (bits) per inference and per training sample on
        the chip's mesh, from the counted events (report.json's ``costs``; see
        docs/report.md). Evaluates the test set first when it has not since training."""
        if self.chip is None:
            raise ConfigError("costs need the chip: chip.arithmetic is float64 (the reference "
                              "counts no events); use chip.arithmetic: fixed")
        self._current_evaluation()
        return cost_section(self.placement, self.chip, self.config.chip, self.config.learning,
                            train_samples=len(self.data.y_train) * self.epochs_trained,
                            test_samples=len(self.data.y_test),
                            timesteps=self.config.data.timesteps, n_inputs=self.data.n_inputs)

    def report(self) -> dict:
        """Everything a run reports (report.json): config, data, network, accuracy per
        epoch, and on the chip its formats, event counts and costs."""
        final = self._current_evaluation()
        config, data, network, learn = self.config, self.data, self.network, self.config.learning
        n_train = len(data.y_train)
        report = {
            "chipsim_version": __version__,
            "name": self.name,
            "complete": True,
            "config": config.model_dump(mode="json"),
            "run": {"label": self.label, "arithmetic": config.chip.arithmetic,
                    "rule": learn.rule, "variant": learn.variant, "error": learn.error},
            "data": {"name": data.name, "n_train": n_train, "n_test": len(data.y_test),
                     "n_inputs": data.n_inputs, "n_classes": data.n_classes,
                     "timesteps": config.data.timesteps,
                     "encoding": ("pre-encoded (used as-is)" if data.pre_encoded
                                  else config.data.encoding)},
            "network": {"layers": [{"name": l.name, "n_in": l.n_in, "n_out": l.n_out,
                                    "neuron": layer_neuron(network, l)}
                                   for l in network.layers],
                        "parameters": int(sum(w.size for w in network.weights.values())
                                          + sum(b.size for b in network.biases.values()))},
            "epochs": self.epochs,
            "final": {"test_accuracy": final.accuracy, "test_loss": final.loss,
                      "train_accuracy": self.epochs[-1]["train_accuracy"],
                      "train_loss": self.epochs[-1].get("train_loss")},
            "seconds": time.perf_counter() - self.started,
            "compile_seconds": self.compile_seconds,
        }
        if self.chip is not None:
            chip = chip_section(self.chip, quantization=self.chip.quantization,
                                train_samples=n_train * self.epochs_trained,
                                test_samples=len(data.y_test))
            rates = self.position.get("initial_spike_rates", {})
            chip["spike_rates_after_quantization"] = rates
            chip["silent_layers_after_quantization"] = [k for k, v in rates.items() if v == 0]
            report["chip"] = chip
            report["costs"] = self.costs()
            report["neurobench"] = neurobench_metrics(
                self.chip, self.chip.inference_counts, len(data.y_test), config.data.timesteps,
                final.accuracy)
        return report

    def metrics_csv(self) -> str:
        """metrics.csv: a row per epoch (epoch 0: before training) with train and test
        accuracy (fraction) and loss, train seconds and wall seconds since the start; empty
        cells where there is no value (epoch 0 trains nothing)."""
        lines = [",".join(METRICS)]
        for e in self.epochs:
            lines.append(",".join("" if e.get(k) is None else repr(e[k]) for k in METRICS))
        return "\n".join(lines) + "\n"

    def save(self, out: str | Path, report: dict | None = None,
             plots: bool | None = None) -> dict:
        """Write the run directory ``out``: weights.npz and weights.yaml (it then loads as a
        model: network.model: DIR), metrics.csv, record.npz (the last evaluation's recordings), the
        figures (default: output.plots), summary.md and report.json (written last). Returns
        the report."""
        out = Path(out)
        report = self.report() if report is None else report
        weights, biases = self.model.weights()
        # effective weights under the layer names (what map and other runs compute with); raw
        # weights and gains beside them so init.weights continues a standardized run exactly
        extra = (self.model.reparameterization() if isinstance(self.model, Float64Model)
                 else {})
        write_npz(out / "weights.npz", {**weights, **{f"{k}.bias": v for k, v in biases.items()},
                                        **extra})
        write_text(out / "weights.yaml", model_yaml(self.network, self.model))
        write_text(out / "metrics.csv", self.metrics_csv())
        if self.last_evaluation is not None and self.last_evaluation.recordings:
            write_npz(out / "record.npz", self.last_evaluation.recordings)
        if self.config.output.plots if plots is None else plots:
            try:
                self._plot(report, out)
            except Exception as exc:  # figures are extra: they never cost the run its results
                report.setdefault("warnings", []).append(
                    f"figures not drawn ({type(exc).__name__}: {exc})")
        write_text(out / "summary.md", summary_markdown(report))
        report["seconds"] = time.perf_counter() - self.started
        write_json(out / "report.json", report)
        return report

    def _plot(self, report: dict, out: Path) -> None:
        from chipsim.report import plots  # matplotlib costs 0.5 s to import: only when plotting

        jobs = [(plots.learning_curve, (report, out / "learning_curve.png"))]
        if "costs" in report:
            jobs += [(plots.energy_breakdown, (report, out / "energy_breakdown.png")),
                     (plots.memory_per_core, (report["costs"], out / "memory_per_core.png",
                                              plots.conditions(report))),
                     (plots.cycles_per_phase, (report, out / "cycles_per_phase.png")),
                     (plots.memory_vs_timesteps, (report, out / "memory_vs_T.png"))]
            jobs += self._raster_jobs(report, out, plots)
        plots.draw(jobs)

    def _raster_jobs(self, report: dict, out: Path, plots) -> list:
        """The spike raster of test sample 0 (a job for plots.draw), or none when no layer
        spikes (a read-out only network)."""
        config = self.config
        one = encode(self.data.x_test[:1], config.data.timesteps, config.data.encoding,
                     stream(config.seed, "encode-test"))
        predicted, kept = self.chip.probe(one, ("spikes",))
        if not kept:
            return []
        about = plots.conditions(report).replace("; ", "\n")
        return [(plots.spike_raster, (
            {k.removesuffix(".spikes"): v[0] for k, v in kept.items()}, out / "spike_raster.png",
            f"{about}\ntest sample 0 (label {self.data.y_test[0]}, predicted {predicted[0]}) "
            f"after {self.epochs_trained} epochs of training"))]


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
