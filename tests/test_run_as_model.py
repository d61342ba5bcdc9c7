"""Every run directory is a model: weights.npz + weights.yaml load again (run, map), the same
chip keeps the trained integers, another width re-quantizes from the trained range."""
import dataclasses
import json
import math

import numpy as np
import pytest
import yaml

from chipsim.chip.fixedpoint import Format
from chipsim.chip.formats import weight_fraction
from chipsim.cli import main
from chipsim.config import read_yaml_file
from chipsim.errors import DataError
from chipsim.mapping.architecture import architecture_of, build_from_architecture
from chipsim.mapping.load import load_model
from chipsim.mapping.network import Conv2d, Dense, Flatten, Network, Neuron, Pool2d

from conftest import ROOT

EXAMPLE = str(ROOT / "examples" / "digits_ottt.yaml")


def run(out, *sets, config=EXAMPLE, status=0):
    args = [a for s in ("output.plots=false", *sets) for a in ("--set", s)]
    assert main(["run", str(config), "--out", str(out), *args]) == status
    return json.loads((out / "report.json").read_text()) if status == 0 else None


def as_model_config(tmp_path, run_dir, name="model.yaml"):
    """A net.yaml that runs ``run_dir`` as network.model, inference only, on the 8-bit chip."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump({
        "seed": 0, "data": {"source": "digits", "encoding": "direct", "timesteps": 6},
        "network": {"model": str(run_dir)}, "learning": {"rule": "none"},
        "chip": {"arithmetic": "fixed", "bits": {"weight": 8, "membrane": 16, "trace": 8,
                                                 "error": 8}}}))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """digits on the 8-bit chip, 1 epoch of OTTT_A (the example's settings otherwise)."""
    out = tmp_path_factory.mktemp("trained") / "digits_ottt"
    return out, run(out, "learning.epochs=1")


def test_run_directory_reproduces_the_run_on_the_same_chip(trained, tmp_path, capsys):
    run_dir, report = trained
    assert report["final"]["test_accuracy"] > 0.85          # it did learn something
    arch = read_yaml_file(run_dir / "weights.yaml", "weights.yaml")
    trained_formats = arch["chip"]["weight_formats"]
    assert set(trained_formats) == {"fc1", "out"}
    capsys.readouterr()
    again = run(tmp_path / "again", config=as_model_config(tmp_path, run_dir))
    assert "re-quantized" not in capsys.readouterr().out
    assert again["final"]["test_accuracy"] == report["final"]["test_accuracy"]
    assert (tmp_path / "again" / "weights.npz").read_bytes() == \
        (run_dir / "weights.npz").read_bytes()
    for q in again["chip"]["quantization"]:
        f = trained_formats[q["layer"]]
        assert q["requantized"] is False and q["saturated"] == 0 and q["rms_error"] == 0.0
        assert q["format"] == q["trained_format"] == Format(f["bits"], f["frac"]).describe()


def test_map_takes_the_run_directory_and_its_weights_file(trained, tmp_path):
    run_dir, _ = trained
    reports = []
    for i, model in enumerate((run_dir, run_dir / "weights.npz")):
        assert main(["map", str(model), "--out", str(tmp_path / f"map{i}")]) == 0
        reports.append(json.loads((tmp_path / f"map{i}" / "mapping.json").read_text()))
    assert reports[0]["placement"] == reports[1]["placement"]
    assert [l["name"] for l in reports[0]["placement"]["layers"]] == ["fc1", "out"]
    assert reports[0]["placement"]["layers"][0]["synapses"] == 64 * 128


def test_another_width_requantizes_from_the_trained_range(trained, tmp_path, capsys):
    run_dir, _ = trained
    capsys.readouterr()
    report = run(tmp_path / "w4", "chip.bits.weight=4", config=as_model_config(tmp_path, run_dir))
    printed = capsys.readouterr().out
    with np.load(run_dir / "weights.npz") as w:
        weights = {k: w[k] for k in w.files}
    formats = read_yaml_file(run_dir / "weights.yaml", "weights.yaml")["chip"]["weight_formats"]
    for q in report["chip"]["quantization"]:
        old = Format(formats[q["layer"]]["bits"], formats[q["layer"]]["frac"])
        new = Format(4, old.frac - 4)                  # same power-of-two range, 4 fewer bits
        ints, saturated = new.quantize(weights[q["layer"]])
        err = new.to_real(ints) - weights[q["layer"]]
        assert q["requantized"] is True
        assert (q["trained_format"], q["format"]) == (old.describe(), new.describe())
        assert q["saturated"] == saturated
        assert q["rms_error"] == pytest.approx(np.sqrt(np.mean(err ** 2)))
        assert f"{q['layer']} s8.{old.frac} -> s4.{new.frac} ({saturated} saturated" in printed
    assert printed.count("re-quantized the trained weights") == 1
    summary = (tmp_path / "w4" / "summary.md").read_text()
    assert f"| fc1 | s4.{formats['fc1']['frac'] - 4} (lsb" in summary
    assert f", trained as s8.{formats['fc1']['frac']} |" in summary


def test_wide_trained_range_at_4_bits_names_weight_headroom(tmp_path, capsys):
    """Weights near 1.5 on the 8-bit chip take s8.3 (range 16); at 4 bits that range leaves
    no fraction bit and the threshold rounds to 0 LSB: the fix is chip.weight_headroom."""
    run(tmp_path / "wide", "learning.rule=none", "network.init.gain=7")
    arch = read_yaml_file(tmp_path / "wide" / "weights.yaml", "weights.yaml")
    assert arch["chip"]["weight_formats"]["fc1"] == {"bits": 8, "frac": 3}
    config = as_model_config(tmp_path, tmp_path / "wide")
    capsys.readouterr()
    run(tmp_path / "w4", "chip.bits.weight=4", config=config, status=2)
    err = capsys.readouterr().err
    assert "chip.weight_headroom: layer 'fc1'" in err and "trained range of its s8.3" in err
    assert "chip.bits.membrane" not in err
    # narrowing the range as the message says makes it fit
    report = run(tmp_path / "w4", "chip.bits.weight=4", "chip.weight_headroom=1", config=config)
    assert report["chip"]["quantization"][0]["format"].startswith("s4.2 ")


def test_coarse_fresh_weights_name_weight_headroom_not_membrane(tmp_path, capsys):
    """3-bit weights of range 16 (8 x max|W| ~ 12) have -2 fraction bits: threshold 0 LSB."""
    run(tmp_path / "r", "chip.bits.weight=3", "network.init.gain=7", status=2)
    err = capsys.readouterr().err
    assert "chip.weight_headroom: layer 'fc1' has 3-bit weights with -2 fraction bits" in err
    assert "trained range" not in err and "chip.bits.membrane" not in err


def test_weight_fraction_keeps_or_narrows_the_trained_range():
    w = np.array([0.3, -1.2])
    assert weight_fraction(w, 8, 8.0) == 8 - 1 - 4                   # fresh: 8 x 1.2 -> 16
    assert weight_fraction(w, 8, 8.0, Format(8, 6)) == 6              # same width: as trained
    assert weight_fraction(w, 4, 8.0, Format(8, 6)) == 2              # range 2 kept
    assert weight_fraction(w, 16, 8.0, Format(8, 6)) == 14
    assert weight_fraction(w, 4, 1.0, Format(8, 2)) == 2              # range 32 narrowed to 2


def test_architecture_round_trips_neurons_pooling_and_inf_tau(tmp_path):
    """Every Neuron field (whatever fields it has) and an IF neuron (tau inf) come back."""
    if_neuron = Neuron(tau=math.inf, threshold=0.5, reset="zero")
    snn = Neuron(tau=4.0, firing=">", reset_at="next_step")
    layers = (Conv2d("c1", (1, 8, 8), 2, (3, 3), (1, 1), (1, 1), True, if_neuron),
              Pool2d("p1", (2, 8, 8), (2, 2), (2, 2), "sum"),
              Flatten("f", (2, 4, 4)), Dense("h", 32, 16), Dense("o", 16, 3, False))
    rng = np.random.default_rng(0)
    weights = {"c1": rng.normal(size=(2, 1, 3, 3)), "h": rng.normal(size=(16, 32)),
               "o": rng.normal(size=(3, 16))}
    net = Network(64, layers, snn, weights)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(architecture_of(net)))
    back = build_from_architecture(read_yaml_file(path, "m"), weights, "m")
    assert back.layers == net.layers and back.neuron == net.neuron
    assert back.neuron_of(back.layers[0]).tau == math.inf
    assert ".inf" in path.read_text()
    # the schema that reads these files knows every Neuron field
    from chipsim.mapping.architecture import NEURON_KEYS, NeuronSpec

    assert set(NeuronSpec.model_fields) == NEURON_KEYS


def test_run_directory_errors_name_what_is_missing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is a directory without weights.npz"):
        load_model(tmp_path / "empty")
    old = tmp_path / "old"
    old.mkdir()
    np.savez(old / "weights.npz", fc1=np.zeros((4, 2)))
    with pytest.raises(DataError, match="has weights.npz but no weights.yaml"):
        load_model(old)
    assert main(["map", str(old), "--out", str(tmp_path / "m")]) == 2
    assert "no weights.yaml" in capsys.readouterr().err


def test_malformed_weight_formats_are_refused_naming_the_file(tmp_path, capsys):
    run(tmp_path / "r", "learning.rule=none")
    path = tmp_path / "r" / "weights.yaml"
    arch = read_yaml_file(path, "weights.yaml")
    arch["chip"]["weight_formats"]["nope"] = {"bits": 8, "frac": 6}
    path.write_text(yaml.safe_dump(arch))
    run(tmp_path / "again", config=as_model_config(tmp_path, tmp_path / "r"), status=2)
    err = capsys.readouterr().err
    assert ("weights.yaml': chip.weight_formats must map synaptic layer names "
            "(fc1, out, or <name>.bias)") in err


def test_float64_run_directory_has_no_chip_formats_and_reloads(tmp_path):
    report = run(tmp_path / "f", "learning.rule=none", "chip.arithmetic=float64")
    assert "chip" not in read_yaml_file(tmp_path / "f" / "weights.yaml", "weights.yaml")
    assert report["network"]["layers"][0]["neuron"] == dataclasses.asdict(Neuron())
    assert report["network"]["layers"][1]["neuron"] == "readout"
    again = run(tmp_path / "g", "chip.arithmetic=float64",
                config=as_model_config(tmp_path, tmp_path / "f"))
    assert again["final"]["test_accuracy"] == report["final"]["test_accuracy"]
    assert (tmp_path / "g" / "weights.npz").read_bytes() == \
        (tmp_path / "f" / "weights.npz").read_bytes()


def test_run_with_biases_and_snntorch_neurons_reproduces_itself(tmp_path):
    """A chip run with biases, snnTorch's neuron and a spiking output: its directory as
    network.model keeps weights and biases (formats and integers) and the accuracy."""
    first = run(tmp_path / "first", "learning.epochs=1", "network.bias=true",
                "network.neuron={tau: 20.0, firing: '>', reset_at: next_step}",
                "network.layers.1.neuron=lif")
    arch = read_yaml_file(tmp_path / "first" / "weights.yaml", "weights.yaml")
    assert set(arch["chip"]["weight_formats"]) == {"fc1", "fc1.bias", "out", "out.bias"}
    assert arch["neuron"]["reset_at"] == "next_step" and "neuron" not in arch["layers"][1]
    again = run(tmp_path / "again", config=as_model_config(tmp_path, tmp_path / "first"))
    assert again["final"]["test_accuracy"] == first["final"]["test_accuracy"]
    assert (tmp_path / "again" / "weights.npz").read_bytes() == \
        (tmp_path / "first" / "weights.npz").read_bytes()
    assert all(q["requantized"] is False for q in again["chip"]["quantization"])
