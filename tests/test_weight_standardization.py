"""Weight standardization's weights files: a standardized run writes effective weights under
the layer names and raw weights and gains beside them; init.weights continues training from
them exactly, runs without standardization and the npz model reader use the effective ones."""
import json
import shutil

import numpy as np
import pytest

from chipsim.cli import main

from conftest import write_yaml

LAYERS = [{"name": "c1", "type": "conv2d", "channels": 3, "kernel": 3, "padding": 1},
          {"name": "p1", "type": "avgpool2d", "kernel": 2},
          {"name": "c2", "type": "conv2d", "channels": 4, "kernel": 3},
          {"name": "f", "type": "flatten"},
          {"name": "out", "type": "dense", "units": 10, "neuron": "readout"}]


def config(tmp_path, variant="A", readout=False, **learning):
    return write_yaml(tmp_path / f"ws_{variant}_{readout}.yaml", {
        "data": {"timesteps": 3},
        "network": {"input_shape": [1, 8, 8], "bias": True, "layers": LAYERS,
                    "weight_standardization": {"enabled": True, "readout": readout}},
        "learning": {"variant": variant, "batch_size": 32 if variant == "A" else 1,
                     "shuffle": False, "optimizer": {"lr": 0.2, "momentum": 0.0},
                     "epochs": 2, **learning},
        "chip": {"arithmetic": "float64"}, "output": {"plots": False}})


def weights(run_dir):
    with np.load(run_dir / "weights.npz") as w:
        return {k: w[k] for k in w.files}


@pytest.mark.parametrize("variant,readout", [("A", False), ("A", True), ("O", False)])
def test_two_epochs_equal_one_then_one_continued_from_weights_npz(tmp_path, variant, readout):
    """N epochs in one run = N1 epochs, then N2 more from the first run's weights.npz (raw
    weights, gains and biases; momentum 0, no shuffling, so nothing else carries over)."""
    cfg = config(tmp_path, variant, readout)
    epochs = lambda n: ["--set", f"learning.epochs={n}"]  # noqa: E731
    if variant == "O":  # one sample per step: a short data set keeps the test quick
        epochs = lambda n: ["--set", f"learning.epochs={n}", "--set",  # noqa: E731
                            "data.test_fraction=0.9"]
    assert main(["run", str(cfg), "--out", str(tmp_path / "whole"), *epochs(2)]) == 0
    assert main(["run", str(cfg), "--out", str(tmp_path / "first"), *epochs(1)]) == 0
    assert main(["run", str(cfg), "--out", str(tmp_path / "second"), *epochs(1), "--set",
                 f"network.init.weights={tmp_path / 'first' / 'weights.npz'}"]) == 0
    whole, first, second = (weights(tmp_path / d) for d in ("whole", "first", "second"))
    assert sorted(whole) == sorted(second)
    assert ("out.gain" in whole) == readout
    for key in whole:
        assert not np.allclose(whole[key], first[key]) or key.endswith(".bias"), key
        scale = np.abs(whole[key]).max()
        assert np.abs(second[key] - whole[key]).max() <= 1e-12 * scale, key


def test_plain_weights_file_is_read_as_raw_weights_with_gain_one(tmp_path):
    """A weights file without '.raw' (e.g. a run without standardization) gives the raw
    weights, gains start at 1: the first effective weights are its standardization."""
    from chipsim.rules.weight_standardization import standardize

    rng = np.random.default_rng(0)
    plain = {"c1": rng.normal(size=(3, 1, 3, 3)), "c2": rng.normal(size=(4, 3, 3, 3)),
             "out": rng.normal(size=(10, 16)) * 0.1}
    np.savez(tmp_path / "plain.npz", **plain, **{f"{k}.bias": np.zeros(len(v))
                                                   for k, v in plain.items()})
    cfg = config(tmp_path, epochs=0)
    assert main(["run", str(cfg), "--out", str(tmp_path / "r"), "--set",
                 f"network.init.weights={tmp_path / 'plain.npz'}"]) == 0
    w = weights(tmp_path / "r")
    assert np.array_equal(w["c1.raw"], plain["c1"]) and np.all(w["c1.gain"] == 1.0)
    assert np.array_equal(w["c1"], standardize(plain["c1"], np.ones(3), 1e-4))
    assert np.array_equal(w["c2"], standardize(plain["c2"], np.ones(4), 1e-4, 2.74))
    assert np.array_equal(w["out"], 2.74 * plain["out"])


def test_effective_weights_are_the_network_without_standardization_and_as_npz_model(tmp_path):
    """The effective weights are the trained network: a run without standardization that
    only infers, and the npz model reader (map, network.model), reproduce its accuracy."""
    cfg = config(tmp_path, epochs=1)
    assert main(["run", str(cfg), "--out", str(tmp_path / "r")]) == 0
    trained = json.loads((tmp_path / "r" / "report.json").read_text())["final"]["test_accuracy"]
    wfile = tmp_path / "r" / "weights.npz"
    assert main(["run", str(cfg), "--out", str(tmp_path / "plain"),
                 "--set", "network.weight_standardization.enabled=false",
                 "--set", "learning.rule=none", "--set", f"network.init.weights={wfile}"]) == 0
    again = json.loads((tmp_path / "plain" / "report.json").read_text())["final"]
    assert again["test_accuracy"] == trained
    shutil.copy(wfile, tmp_path / "model.npz")
    write_yaml(tmp_path / "model.yaml", {"input": [1, 8, 8], "layers": LAYERS})
    from chipsim.mapping.load import load_model

    net = load_model(tmp_path / "model.npz")
    w = weights(tmp_path / "r")
    assert all(np.array_equal(net.weights[k], w[k]) for k in ("c1", "c2", "out"))
    assert np.array_equal(net.raw["c2"], w["c2.raw"]) and np.array_equal(net.gain["c2"],
                                                                          w["c2.gain"])


def test_weights_file_errors(tmp_path, capsys):
    rng = np.random.default_rng(1)
    good = {"c1": rng.normal(size=(3, 1, 3, 3)), "c2": rng.normal(size=(4, 3, 3, 3)),
            "out": rng.normal(size=(10, 16)), "c1.bias": np.zeros(3), "c2.bias": np.zeros(4),
            "out.bias": np.zeros(10)}
    cases = [({"c1.gain": np.ones(3)}, "array 'c1.gain' comes without 'c1.raw'"),
             ({"c2.raw": np.ones((4, 3, 3)), }, "array 'c2.raw' has shape (4, 3, 3), layer "
              "needs (4, 3, 3, 3)"),
             ({"c1.raw": good["c1"], "c1.gain": np.ones(4)}, "array 'c1.gain' has shape (4,)"),
             ({"out.raw": good["out"], "out.gain": np.ones(10)},
              "gains given for out, which this run does not standardize")]
    for i, (extra, needle) in enumerate(cases):
        np.savez(tmp_path / f"bad{i}.npz", **good, **extra)
        cfg = config(tmp_path, epochs=0)
        assert main(["run", str(cfg), "--out", str(tmp_path / f"r{i}"), "--set",
                     f"network.init.weights={tmp_path / f'bad{i}.npz'}"]) == 2
        assert needle in capsys.readouterr().err


def test_chip_run_loads_the_effective_weights_of_a_standardized_run(tmp_path):
    """The chip has no standardization: a fixed-point run built from a standardized run's
    weights.npz gets exactly its effective weights (then quantizes them)."""
    from chipsim.config import load_config
    from chipsim.data import load_dataset
    from chipsim.build import network_from_config

    cfg = config(tmp_path, epochs=1)
    assert main(["run", str(cfg), "--out", str(tmp_path / "r"),
                 "--set", "network.bias=false"]) == 0
    chip = load_config(cfg, ["chip.arithmetic=fixed", "network.bias=false",
                             "network.weight_standardization.enabled=false",
                             f"network.init.weights={tmp_path / 'r' / 'weights.npz'}"])
    network = network_from_config(chip, load_dataset(chip.data, chip.seed))
    w = weights(tmp_path / "r")
    for name in ("c1", "c2", "out"):
        assert np.array_equal(network.weights[name], w[name])
        assert not np.array_equal(network.weights[name], w[f"{name}.raw"])
    assert main(["run", str(cfg), "--out", str(tmp_path / "chip"), "--set",
                 "chip.arithmetic=fixed", "--set", "network.bias=false", "--set",
                 "network.weight_standardization.enabled=false", "--set", "learning.rule=none",
                 "--set", f"network.init.weights={tmp_path / 'r' / 'weights.npz'}"]) == 0
