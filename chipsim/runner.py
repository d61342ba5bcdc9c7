"""A run directory: train and evaluate a Simulation as the config says, with checkpoints,
interruption by signals and resume, then the report, weights and figures."""
from __future__ import annotations

import signal
from pathlib import Path

from chipsim import __version__, checkpoint
from chipsim.config import Config
from chipsim.errors import ChipsimError, DataError, SimulationError
from chipsim.output_dir import RUN_FILES, OutputDirectory, unused_variant
from chipsim.report.chip_section import saturation_warnings
from chipsim.report.summary import wall_time
from chipsim.report.writer import write_json, write_text
from chipsim.simulation import Simulation


class Interrupted(ChipsimError):
    """The run was asked to stop (SIGINT / SIGTERM): a checkpoint and a partial report exist
    (``directory``: resume there), or with ``complete`` the results were already written."""

    def __init__(self, signum: int, directory: Path, complete: bool = False):
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name} while the results were written; they are "
                         f"complete in {directory}" if complete else
                         f"interrupted by {name}: checkpoint and partial report in {directory}")
        self.directory = None if complete else directory  # (None: nothing to resume)
        self.exit_status = 128 + signum


def run(config: Config, name: str, out_dir: str | Path | None = None, echo=print,
        show_progress: bool | None = None, resume: bool = False, stop=lambda: 0,
        overwrite: bool = False) -> dict:
    """Train and evaluate as the config says; write the run directory; return the report.

    The directory (``out_dir``) is claimed before any work (see chipsim.output_dir): one
    that holds an earlier run is refused unless ``overwrite`` (its files are removed first)
    or ``resume`` (continue from its checkpoint). Without ``out_dir``: output.dir, or when
    that holds an earlier run, output.dir_2, _3, ... (``overwrite``: output.dir). ``stop()`` is
    polled after every batch; a nonzero value (a signal number) checkpoints, writes a partial
    report and raises Interrupted.
    """
    option = "--resume" if resume else "--out" if out_dir is not None else "output.dir"
    path = out_dir
    if out_dir is None:  # the default folder: a new one beside an earlier run, never over it
        default = output_path(config, name)
        path = default if overwrite else unused_variant(default, RUN_FILES)
        if str(path) != str(default):
            echo(f"{default} holds an earlier run: this one goes to {path} (--out DIR to "
                 "choose, --overwrite to replace it)")
    # a checkpoint that cannot be resumed (absent, damaged, another config's) is refused first
    resumed = checkpoint.load(path, config) if resume else None
    with OutputDirectory(path, RUN_FILES, option=option, resume=resume,
                         overwrite=overwrite) as out:
        return _run(config, name, out, echo, show_progress, resumed, stop)


def output_path(config: Config, name: str) -> str:
    """output.dir with ``{name}`` (the config file's stem) filled in (the schema allows no
    other field)."""
    return config.output.dir.format(name=name)


def _run(config: Config, name: str, out: Path, echo, show_progress, resumed, stop) -> dict:
    own_checkpoint = [resumed is not None]  # only this run's checkpoint is ever deleted
    sim = Simulation(config, name)
    echo(f"{name}: {sim.label}, {sim.shape()}, T={config.data.timesteps}, "
         f"{len(sim.data.y_train)} train / {len(sim.data.y_test)} test samples of "
         f"{sim.data.name}")
    for line in (sim.compile_notice(), sim.requantization_note()):
        if line:
            echo(line)
    if resumed is not None:
        position, arrays = resumed
        checkpoint.restore_arrays(sim.model.state(), arrays, out)
        sim.position = position
        batches = -(-len(sim.data.y_train) // config.learning.batch_size)
        if position["batch"] > batches:
            raise DataError(f"checkpoint in '{out}' is damaged (position.batch is "
                            f"{position['batch']}, an epoch has {batches} batches); it cannot "
                            "be resumed (start the run again)")
        echo(f"  resuming at epoch {position['epoch']}, batch {position['batch']} of {batches}")

    def save_checkpoint():
        checkpoint.save(out, config, sim.position, sim.model.state(), name)
        sim.position["since_checkpoint"] = 0
        own_checkpoint[0] = True

    def after_batch(sim):
        signum = stop()
        if signum:
            save_checkpoint()
            _write_partial(out, name, config, sim.epochs, signum)
            raise Interrupted(signum, out)
        every = config.output.checkpoint_every
        if every and sim.position["since_checkpoint"] >= every:
            save_checkpoint()

    def after_epoch(sim):  # a log a plotting tool can follow while the run goes on
        write_text(out / "metrics.csv", sim.metrics_csv())

    try:
        sim.train(show_progress=show_progress, after_batch=after_batch,
                  after_epoch=after_epoch, echo=echo)
    except SimulationError as exc:  # an overflow under policy 'error', a diverged run: what
        write_text(out / "metrics.csv", sim.metrics_csv())  # ran so far is kept
        _write_partial(out, name, config, sim.epochs, stopped_by=str(exc))
        raise
    record = tuple(config.output.record)
    if record or sim.last_evaluation is None:  # else the last epoch's evaluation is final
        sim.evaluate(record, after_chunk=after_batch)
    report = sim.report()
    for line in saturation_warnings(report["chip"]) if "chip" in report else []:
        echo(f"  warning: {line}")
    for layer in report.get("chip", {}).get("silent_layers_after_quantization", []):
        echo(f"  warning: layer '{layer}' did not spike on the test set after quantization "
             "(weights too coarse for its threshold?)")
    sim.save(out, report)
    for warning in report.get("warnings", []):
        echo(f"  warning: {warning}")
    if own_checkpoint[0]:  # the run is complete: report and weights supersede its checkpoint
        (out / checkpoint.FILE).unlink(missing_ok=True)
    if stop():  # a signal while the results were written: honoured, nothing is lost
        raise Interrupted(stop(), out, complete=True)
    where = str(out) if out.is_absolute() else f"{out} (in {Path.cwd()})"
    echo(f"test accuracy {100 * report['final']['test_accuracy']:.2f} % in "
         f"{wall_time(report)} -> {where}")
    return report


def _write_partial(out: Path, name: str, config: Config, epochs: list, signum: int = 0,
                   stopped_by: str = "") -> None:
    """report.json of a run that did not finish (a signal, or ``stopped_by``: the error that
    stopped it): what is known so far, marked incomplete."""
    why = ({"interrupted_by": signal.Signals(signum).name} if signum
           else {"stopped_by": stopped_by})
    write_json(out / "report.json", {
        "chipsim_version": __version__, "name": name, "complete": False, **why,
        "config": config.model_dump(mode="json"), "epochs": epochs})
