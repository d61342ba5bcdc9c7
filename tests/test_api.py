"""The public Python API (``import chipsim``): the tour example, the Simulation object against
the CLI's run, incremental training, readable objects and clear errors."""
import ast
import json
import runpy

import numpy as np
import pytest

import chipsim
from chipsim.cli import main

from conftest import ROOT

EXAMPLE = ROOT / "examples" / "digits_ottt.yaml"
TOUR = ROOT / "examples" / "api_tour.py"


def test_api_tour_trains_counts_costs_and_maps_through_the_public_api(tmp_path, capsys):
    imports = [node for node in ast.walk(ast.parse(TOUR.read_text()))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    modules = {a.name for n in imports if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in imports if isinstance(n, ast.ImportFrom)}
    assert modules == {"sys", "pathlib", "chipsim"}  # chipsim only as `import chipsim`
    result = runpy.run_path(str(TOUR))["main"](str(tmp_path / "tour"), epochs=2)
    printed = capsys.readouterr().out
    assert result["accuracy"] > 0.85 and "uJ per inference" in printed
    inference = result["costs"]["inference"]
    assert inference["energy"]["loihi2018"]["per_sample_pJ"] > 0
    assert result["mapping"]["placement"]["cores_used"] >= 2
    saved = json.loads((tmp_path / "tour" / "report.json").read_text())
    assert saved["final"]["test_accuracy"] == result["accuracy"]
    assert (tmp_path / "tour" / "weights.npz").exists()


def test_a_simulation_gives_what_the_command_line_gives(tmp_path):
    overrides = ["learning.epochs=2", "output.plots=false"]
    assert main(["run", str(EXAMPLE), "--out", str(tmp_path / "cli"),
                 *[a for o in overrides for a in ("--set", o)]]) == 0
    sim = chipsim.Simulation(EXAMPLE, overrides=overrides)
    sim.train()
    report = sim.save(tmp_path / "api")
    cli = json.loads((tmp_path / "cli" / "report.json").read_text())
    for key in ("final", "chip", "costs", "network", "data", "config"):
        assert json.loads(json.dumps(report[key])) == cli[key], key
    assert [e["test_accuracy"] for e in report["epochs"]] == \
        [e["test_accuracy"] for e in cli["epochs"]]
    assert (tmp_path / "api" / "weights.npz").read_bytes() == \
        (tmp_path / "cli" / "weights.npz").read_bytes()


def test_training_in_steps_equals_training_at_once():
    overrides = ["learning.epochs=2", "data.encoding=rate"]
    once = chipsim.Simulation(EXAMPLE, overrides=overrides)
    once.train()
    steps = chipsim.Simulation(EXAMPLE, overrides=overrides)
    first = steps.train(epochs=1)
    assert [r["epoch"] for r in first] == [1] and steps.epochs_trained == 1
    steps.train(epochs=1)
    assert [e["epoch"] for e in steps.epochs] == [0, 1, 2]
    assert np.array_equal(once.chip.memories.weights, steps.chip.memories.weights)
    assert once.counters == steps.counters
    assert steps.train() == []  # learning.epochs reached


def test_config_from_a_dict_with_overrides_and_its_errors(tmp_path):
    raw = {"data": {"source": "digits", "timesteps": 4},
           "network": {"layers": [{"name": "h", "units": 32},
                                  {"name": "o", "units": 10, "neuron": "readout"}]},
           "learning": {"epochs": 1}}
    config = chipsim.load_config(raw, ["chip.bits.weight=6"])
    assert config.chip.bits.weight == 6 and raw["learning"] == {"epochs": 1}  # not modified
    sim = chipsim.Simulation(config)
    assert sim.shape() == "64-32-10" and sim.name == "chipsim"
    with pytest.raises(chipsim.ConfigError, match="chip.bits.weight"):
        chipsim.load_config(raw, ["chip.bits.weight=0"])
    with pytest.raises(chipsim.ConfigError, match="not found"):
        chipsim.Simulation(tmp_path / "missing.yaml")


def test_objects_print_what_they_are_not_their_arrays():
    sim = chipsim.Simulation(EXAMPLE)
    assert repr(sim) == ("Simulation('digits_ottt': fixed OTTT_A (backprop), 64-128-10, T=6, "
                         "digits 1346 train / 451 test, 0 of 15 epochs trained)")
    assert repr(sim.network) == ("Network(64 inputs: fc1 dense 128, out dense 10; "
                                 "9472 parameters)")
    assert repr(sim.chip) == "Chip(fc1 8-bit weights, out 8-bit weights; OTTT_A (backprop))"
    with pytest.raises(AttributeError, match="no attribute 'Simulator'"):
        chipsim.Simulator


def test_the_float64_reference_has_no_counters_and_no_costs():
    sim = chipsim.Simulation(EXAMPLE, overrides=["chip.arithmetic=float64",
                                                 "learning.epochs=1"])
    sim.train()
    assert sim.counters == {} and sim.chip is None
    with pytest.raises(chipsim.ConfigError, match="chip.arithmetic"):
        sim.costs()
    assert "costs" not in sim.report()
    inference_only = chipsim.Simulation(EXAMPLE, overrides=["learning.rule=none"])
    with pytest.raises(chipsim.ConfigError, match="learning.rule: none"):
        inference_only.train(epochs=1)
