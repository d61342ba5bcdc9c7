"""The public Python API: ``import chipsim``.

    sim = chipsim.Simulation("examples/digits_ottt.yaml", overrides=["learning.epochs=3"])
    sim.train()                      # epoch records: train / test accuracy, seconds
    sim.evaluate().accuracy          # the test set with frozen weights
    sim.counters                     # the chip's event counts per layer
    sim.costs()                      # energy (pJ), cycles and memory (bits)
    sim.save("runs/mine")            # a run directory (weights, report, figures)

    chipsim.run("net.yaml", out="runs/x")          # what `chipsim run` does; the report
    chipsim.map_network("model.nir", rate=0.1)     # what `chipsim map` does; the mapping

Every function raises chipsim.ChipsimError subclasses on bad input (ConfigError, DataError;
DoesNotFitError when a network does not fit the chip), with the message the CLI prints.
"""
from __future__ import annotations

from pathlib import Path

from chipsim import runner
from chipsim.build import run_name
from chipsim.config import Config, load_config, load_map_config
from chipsim.errors import ConfigError
from chipsim.map_run import map_model
from chipsim.simulation import Evaluation, Simulation

__all__ = ["Config", "Evaluation", "Simulation", "load_config", "map_network", "run"]


def run(config, out: str | Path | None = None, *, name: str | None = None,
        overrides: list[str] = (), resume: bool = False, overwrite: bool = False,
        show_progress: bool | None = None, echo=print, stop=lambda: 0) -> dict:
    """Train and evaluate as ``config`` (a net.yaml path, a dict or a Config) says, write
    the run directory ``out`` (default: output.dir) and return the report (report.json).
    A directory that holds an earlier run is refused (ConfigError) before any work, unless
    ``resume`` (continue the interrupted run in ``out``) or ``overwrite`` (remove that run's
    files first). ``stop()`` is polled after every batch: a signal number checkpoints and
    raises runner.Interrupted."""
    if name is None:
        name = run_name(config)
    return runner.run(load_config(config, overrides), name, out, echo=echo,
                      show_progress=show_progress, resume=resume, stop=stop,
                      overwrite=overwrite)


def map_network(model: str | Path, chip: str | Path | None = None, overrides: list[str] = (),
                *, rate: float = 0.1, input_rate: float | None = None,
                out: str | Path | None = None, overwrite: bool = False,
                echo=lambda *a: None) -> dict:
    """Place a trained network (.nir, .npz with its .yaml, .pt/.pth, or a run directory) on
    the chip (``chip``: a YAML file with a chip section) and estimate one inference with
    every spiking layer at ``rate`` spikes per neuron per step (inputs at ``input_rate``,
    default ``rate``): cores, memory (bits), energy (pJ) and latency (cycles). Writes
    mapping.json, mapping.md and a figure to ``out`` when given (an earlier mapping there
    is refused unless ``overwrite``). Returns the mapping."""
    for key, value in (("rate", rate), ("input_rate", input_rate)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ConfigError(f"{key}: expected a spike rate in [0, 1], got {value}")
    config = load_map_config(str(model), None if chip is None else str(chip), overrides)
    return map_model(config, out, rate=rate, input_rate=rate if input_rate is None
                     else input_rate, echo=echo, overwrite=overwrite)
