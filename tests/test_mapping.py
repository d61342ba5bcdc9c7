"""Mapping trained networks: hand-counted memory of a small conv net, VGG-11 on a Loihi-sized
preset (from npz + YAML and from PyTorch), design rules with exit 3, fine-tuning at 4 bits."""
import json

import numpy as np
import pytest
import yaml

from chipsim.cli import main

from conftest import ROOT

EXAMPLE = str(ROOT / "examples" / "digits_ottt.yaml")


def write_model(tmp_path, arch, weights, name="m"):
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(arch))
    np.savez(tmp_path / f"{name}.npz", **weights)
    return tmp_path / f"{name}.npz"


def map_json(tmp_path, model, *sets, status=0):
    args = [a for s in sets for a in ("--set", s)]
    assert main(["map", str(model), "--out", str(tmp_path / "map"), *args]) == status
    return json.loads((tmp_path / "map" / "mapping.json").read_text()) if status == 0 else None


SMALL = {"input": [1, 4, 4],
         "layers": [{"name": "conv", "type": "conv2d", "channels": 2, "kernel": 3, "padding": 1},
                    {"name": "flat", "type": "flatten"},
                    {"name": "out", "type": "dense", "units": 10, "neuron": "readout"}]}
SMALL_W = {"conv": np.ones((2, 1, 3, 3)) * 0.5, "out": np.ones((10, 32)) * 0.1}


@pytest.mark.parametrize("conv_weights,conv_bits", [("shared", 192), ("unrolled", 1600)])
def test_small_conv_net_memory_matches_a_hand_count(tmp_path, conv_weights, conv_bits):
    """conv 1->2 channels, 3x3, padding 1 on 4x4: 32 neurons. Shared: one kernel of 2 x 3 x 3
    8-bit weights = 144 bits, padded to 3 words of 64 = 192. Unrolled: per output channel the
    valid taps are (2+3+3+2)^2 = 100, x 2 channels = 200 weights = 1600 bits (25 words).
    Read-out: 32 rows of 10 weights (80 bits) padded to 2 words: 32 x 128 = 4096 bits."""
    report = map_json(tmp_path, write_model(tmp_path, SMALL, SMALL_W),
                      f"chip.conv_weights={conv_weights}")
    mem = {r["layer"]: r for r in report["memory"]["per_core"]}
    assert mem["conv"]["sram_weights"] == conv_bits
    assert mem["conv"]["neurons"] == 32 and mem["conv"]["axons"] == 16
    assert mem["out"]["sram_weights"] == 32 * 128 and mem["out"]["axons"] == 32
    assert mem["conv"]["neuron_state"] == 32 * 16   # 16-bit membranes, inference: no errors
    layers = {l["name"]: l for l in report["placement"]["layers"]}
    assert layers["conv"]["synapses"] == 200 and layers["out"]["synapses"] == 320
    # expected synaptic ops of one inference at rate r over T steps: r x synapses x T
    inf = report["inference"]
    assert inf["events_total"]["synaptic_ops"] == pytest.approx(0.1 * (200 + 320) * 6)


def test_conv_tiles_split_the_map_within_core_limits(tmp_path):
    report = map_json(tmp_path, write_model(tmp_path, SMALL, SMALL_W),
                      "chip.core.neurons=8", "chip.core.axons=9", "chip.mesh=[6, 6]")
    cores = report["memory"]["per_core"]
    conv = [c for c in cores if c["layer"] == "conv"]
    assert len(conv) >= 4 and all(c["neurons"] <= 8 and c["axons"] <= 9 for c in conv)
    assert sum(c["neurons"] for c in conv) == 32
    out = [c for c in cores if c["layer"] == "out"]
    # 10 read-out neurons in 2 slices of <= 8, fan-in 32 split in 4 groups of <= 9
    assert len(out) == 8 and all(c["axons"] <= 9 for c in out)
    assert report["inference"]["events_total"]["partial_sum_packets"] > 0


def vgg11(tmp_path):
    arch, weights, c_in = {"input": [3, 32, 32], "layers": []}, {}, 3
    rng = np.random.default_rng(0)
    for i, c in enumerate([64, 128, "A", 256, 256, "A", 512, 512, "A", 512, 512]):
        if c == "A":
            arch["layers"].append({"name": f"pool{i}", "type": "avgpool2d", "kernel": 2})
            continue
        arch["layers"].append({"name": f"conv{i}", "type": "conv2d", "channels": c,
                               "kernel": 3, "padding": 1})
        weights[f"conv{i}"] = rng.normal(0, 0.05, (c, c_in, 3, 3))
        c_in = c
    arch["layers"] += [{"name": "gap", "type": "avgpool2d", "kernel": 4},
                       {"name": "flat", "type": "flatten"},
                       {"name": "fc", "type": "dense", "units": 10, "neuron": "readout"}]
    weights["fc"] = rng.normal(0, 0.05, (10, 512))
    return write_model(tmp_path, arch, weights, "vgg11")


def test_vgg11_maps_onto_a_loihi_sized_preset(tmp_path, measured):
    report = map_json(tmp_path, vgg11(tmp_path), "chip.preset=loihi_nahuku32")
    place = report["placement"]
    assert place["cores_available"] == 4096 and 64 * 32 * 32 / 1024 <= place["cores_used"] <= 4096
    per_core = report["memory"]["per_core"]
    assert all(r["neurons"] <= 1024 and r["axons"] <= 4096 for r in per_core)
    assert all(r["sram_used"] <= 128 * 8192 for r in per_core)
    assert sum(l["neurons"] for l in place["layers"]) == 409_600 + 10
    energy = report["inference"]["energy"]
    assert energy["loihi2018"]["total_pJ"] > energy["horowitz45"]["total_pJ"] > 0
    assert report["inference"]["assumed_rates"] == {"input": 0.1, "spiking_layers": 0.1}
    text = (tmp_path / "map" / "mapping.md").read_text()
    assert "conv10" in text and "energy (loihi2018)" in text
    measured("vgg11/cores_used", place["cores_used"], digits=6)   # the README quotes these
    for table in ("loihi2018", "horowitz45", "sanafe_loihi"):
        measured(f"vgg11/{table}_mJ", energy[table]["total_pJ"] / 1e9, digits=3)
    measured("vgg11/latency_us", report["inference"]["cycles"]["per_step"]["latency_us"], digits=3)


def test_vgg11_unrolled_or_unsplit_does_not_fit_exit_3(tmp_path, capsys):
    model = vgg11(tmp_path)
    map_json(tmp_path, model, "chip.preset=loihi_nahuku32", "chip.conv_weights=unrolled",
             status=3)
    err = capsys.readouterr().err
    assert "network (cores_fit_mesh): needs" in err and "the chip has 4096" in err
    map_json(tmp_path, model, "chip.preset=loihi_nahuku32", "chip.split_fan_in=false", status=3)
    err = capsys.readouterr().err
    assert "layer 'conv3' (fan_in_fits_axons)" in err and "4608 input axons" in err
    assert "Traceback" not in err


def test_vgg11_built_in_pytorch_maps(tmp_path):
    torch = pytest.importorskip("torch")
    from chipsim.mapping.from_torch import from_torch
    from chipsim.mapping.ottt_vgg import ottt_vgg
    from chipsim.mapping.placement import CoreSpec, Widths, place_network

    torch.manual_seed(0)
    network = from_torch(ottt_vgg("VGG11", in_channels=3, num_classes=10, input_hw=32),
                         (3, 32, 32))
    placement = place_network(network.layers, Widths(8, 16, 8, 8, 24),
                              CoreSpec(1024, 4096, 128 * 8192), (64, 64), classes=10)
    assert 400 <= len(placement.cores) <= 4096
    assert sum(placement.neurons_of(l) for l in range(len(placement.layer_cores))) == 409_610


def test_map_errors(tmp_path, capsys):
    assert main(["map", str(tmp_path / "absent.nir")]) == 2
    assert "network.model: '" in capsys.readouterr().err
    model = write_model(tmp_path, SMALL, SMALL_W)
    assert main(["map", str(model), "--rate", "2"]) == 2
    assert "--rate: expected a spike rate in [0, 1], got 2.0" in capsys.readouterr().err
    assert main(["map", str(model), "--set", "chip.preset=loihi2"]) == 2
    assert "did you mean 'loihi'" in capsys.readouterr().err


def test_an_imported_conv_model_runs_on_chip_and_in_float64(tmp_path):
    rng = np.random.default_rng(0)
    model = write_model(tmp_path, {**SMALL, "input": [1, 8, 8]},
                        {"conv": rng.normal(0.5, 0.3, (2, 1, 3, 3)),
                         "out": rng.normal(0, 0.3, (10, 128))})
    reports = {}
    for arithmetic in ("fixed", "float64"):
        out = tmp_path / arithmetic
        assert main(["run", EXAMPLE, "--out", str(out), "--set", "network.layers=null",
                     "--set", f"network.model={model}", "--set", "learning.rule=none",
                     "--set", f"chip.arithmetic={arithmetic}",
                     "--set", "output.record=[spikes]"]) == 0
        reports[arithmetic] = json.loads((out / "report.json").read_text())
        with np.load(out / "record.npz") as rec:
            assert rec["conv.spikes"].shape == (451, 6, 128) and rec["conv.spikes"].sum() > 0
    assert reports["fixed"]["costs"]["placement"]["layers"]["conv"] == [0]


def test_fine_tuning_an_imported_network_at_4_bits_raises_accuracy(tmp_path):
    """Train in float64, import the weights at 4 bits (accuracy drops), fine-tune on chip."""
    float_run = tmp_path / "float"
    assert main(["run", EXAMPLE, "--out", str(float_run), "--set", "chip.arithmetic=float64",
                 "--set", "learning.epochs=4", "--set", "output.plots=false"]) == 0
    (tmp_path / "weights.yaml").write_text(yaml.safe_dump(
        {"input": [64], "layers": [{"name": "fc1", "type": "dense", "units": 128},
                                   {"name": "out", "type": "dense", "units": 10,
                                    "neuron": "readout"}]}))
    (tmp_path / "weights.npz").write_bytes((float_run / "weights.npz").read_bytes())
    out = tmp_path / "tuned"
    assert main(["run", EXAMPLE, "--out", str(out), "--set", "network.layers=null",
                 "--set", f"network.model={tmp_path / 'weights.npz'}",
                 "--set", "chip.bits.weight=4", "--set", "chip.weight_headroom=1",
                 "--set", "chip.rounding=stochastic", "--set", "learning.optimizer.lr=0.01",
                 "--set", "learning.epochs=3", "--set", "output.plots=false"]) == 0
    float_acc = json.loads((float_run / "report.json").read_text())["final"]["test_accuracy"]
    epochs = json.loads((out / "report.json").read_text())["epochs"]
    before, after = epochs[0]["test_accuracy"], epochs[-1]["test_accuracy"]
    assert before < float_acc                 # quantizing to 4 bits costs accuracy
    assert after >= before + 0.01             # fine-tuning on chip recovers most of it


def test_the_map_estimate_agrees_with_a_simulated_run_at_its_rates(tmp_path):
    """`chipsim map` prices stated spike rates without simulating. Given the rates a simulated
    inference measured (Bernoulli inputs at 0.2, the hidden layer's own rate), its expected
    events, energy under every table and latency must agree with the run's counted ones per
    sample: the two share the cost model, so this checks the estimate's event model."""
    assert main(["run", str(ROOT / "examples" / "digits_ottt.yaml"), "--out",
                 str(tmp_path / "trained"), "--set", "learning.epochs=1",
                 "--set", "output.plots=false"]) == 0
    rng = np.random.default_rng(0)
    x = (rng.random((400, 6, 64)) < 0.2).astype(np.uint8)
    y = rng.integers(0, 10, 400)
    np.savez(tmp_path / "spikes.npz", x=x[:16], y=y[:16], x_test=x, y_test=y)
    (tmp_path / "infer.yaml").write_text(yaml.safe_dump({
        "data": {"source": "npz", "path": str(tmp_path / "spikes.npz"), "timesteps": 6},
        "network": {"model": str(tmp_path / "trained")}, "learning": {"rule": "none"},
        "chip": {"arithmetic": "fixed"}, "output": {"plots": False}}))
    assert main(["run", str(tmp_path / "infer.yaml"), "--out", str(tmp_path / "run")]) == 0
    run = json.loads((tmp_path / "run" / "report.json").read_text())["costs"]["inference"]
    rate = run["spike_rates"]["fc1"]
    assert main(["map", str(tmp_path / "trained"), "--rate", str(rate), "--input-rate", "0.2",
                 "--set", "data.timesteps=6", "--out", str(tmp_path / "map")]) == 0
    est = json.loads((tmp_path / "map" / "mapping.json").read_text())["inference"]
    n = run["samples"]
    counted = {k: v / n for k, v in run["events_total"].items()}
    for event in ("synaptic_ops", "synapse_rows_read", "neuron_spikes", "input_packets",
                  "spike_packets", "hops_ew", "static_core_steps"):
        assert est["events_total"][event] == pytest.approx(counted[event], rel=0.01), event
    updates = ("active_neuron_updates", "inactive_neuron_updates")  # (active: a model)
    assert sum(est["events_total"][k] for k in updates) == pytest.approx(
        sum(counted[k] for k in updates), rel=1e-12)
    assert est["events_total"]["active_neuron_updates"] == pytest.approx(
        counted["active_neuron_updates"], rel=0.01)
    for table, energy in est["energy"].items():
        assert energy["per_sample_pJ"] == pytest.approx(
            run["energy"][table]["per_sample_pJ"], rel=0.01), table
    assert est["cycles"]["per_step"]["latency_cycles"] == pytest.approx(
        run["cycles"]["per_step"]["latency_cycles"], rel=0.01)
