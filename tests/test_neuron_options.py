"""The configurable neuron on the chip: every option (leak incl. IF, threshold, firing '>',
reset zero or at the next step, biases, a spiking output classified by spike count) converges
to the float64 reference with wide formats, and on-chip OTTT learns digits with it.

The kernels' bit-for-bit agreement with their numpy twins under every option is in
test_chip.py (random neurons, biases and spiking outputs in ``random_chips``).
"""
import json

import numpy as np
import pytest

from chipsim.cli import main

from conftest import ROOT, write_yaml

EXAMPLE = str(ROOT / "examples" / "digits_ottt.yaml")
WIDE = ["chip.arithmetic=fixed", "chip.rounding=nearest",
        "chip.bits={weight: 32, membrane: 46, trace: 20, error: 24, surrogate: 20, "
        "accumulator: 46, input: 8, learning_rate: 16, bias: 32}"]

SNNTORCH_LIKE = {"tau": 16.0, "threshold": 1.0, "firing": ">", "reset_at": "next_step"}
CASES = {
    "fire_gt_reset_zero": {"neuron": {"firing": ">", "reset": "zero"}},
    "snntorch_like_bias_spiking_output": {
        "neuron": SNNTORCH_LIKE, "bias": True, "out_neuron": "lif"},
    "if_threshold": {"neuron": {"model": "if", "threshold": 0.5}},
    "per_layer_bias": {"bias": True, "h1_neuron": {"tau": 4.0, "threshold": 1.5, "firing": ">"},
                       "h2_neuron": {"reset": "zero"}},
}


def write_case(tmp_path, case: dict, variant: str):
    rng = np.random.default_rng(1)
    # inputs exact in the 8-bit payload; 6 samples, whole batches of 3 (a partial last batch
    # gets lr / (batch_size T) on chip but the batch mean in float64); few samples keep spike
    # timings from flipping under the chip's last-bit differences (an IF net is chaotic)
    x = rng.integers(0, 16, (6, 20)) / 16.0
    y = np.arange(6) % 4
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x, y_test=y)
    return write_yaml(tmp_path / "n.yaml", {
        "seed": 3,
        "data": {"source": "npz", "path": str(tmp_path / "d.npz"), "timesteps": 5},
        "network": {"neuron": case.get("neuron", {}), "bias": case.get("bias", False),
                    "init": {"gain": 2.0},
                    "layers": [{"name": "h1", "units": 12, "neuron": case.get("h1_neuron", "lif")},
                               {"name": "h2", "units": 8, "neuron": case.get("h2_neuron", "lif")},
                               {"name": "out", "units": 4,
                                "neuron": case.get("out_neuron", "readout")}]},
        "learning": {"variant": variant, "batch_size": 3 if variant == "A" else 1, "epochs": 2,
                     "shuffle": False, "optimizer": {"lr": 0.5}},
        "output": {"plots": False}})


def relative(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)


@pytest.mark.parametrize("variant", ["A", "O"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_wide_formats_converge_to_float64_with_every_neuron_option(tmp_path, name, variant):
    cfg = write_case(tmp_path, CASES[name], variant)
    sets = lambda items: [a for o in items for a in ("--set", o)]  # noqa: E731
    assert main(["run", str(cfg), "--out", str(tmp_path / "f"),
                 *sets(["chip.arithmetic=float64"])]) == 0
    assert main(["run", str(cfg), "--out", str(tmp_path / "c"), *sets(WIDE)]) == 0
    with np.load(tmp_path / "f" / "weights.npz") as f, np.load(tmp_path / "c" / "weights.npz") as c:
        assert sorted(f.files) == sorted(c.files)
        keys = [k for k in f.files if not k.endswith((".raw", ".gain"))]
        assert any(k.endswith(".bias") for k in keys) == CASES[name].get("bias", False)
        for key in keys:
            # biases start at 0: what they end with is all learned, so it carries the error
            # format's resolution (2^-22 on deltas of ~1e-3) where weights hide it in their size
            # O rounds each step's change into the weights (A once per batch of 3 x T steps)
            tolerance = 1e-3 if key.endswith(".bias") else 1e-4 if variant == "A" else 3e-4
            assert relative(c[key], f[key]) < tolerance, key
    float_report = json.loads((tmp_path / "f" / "report.json").read_text())
    chip_report = json.loads((tmp_path / "c" / "report.json").read_text())
    assert [e["test_accuracy"] for e in chip_report["epochs"]] == \
        [e["test_accuracy"] for e in float_report["epochs"]]


@pytest.mark.parametrize("sets", [
    # snnTorch's neuron (beta 0.95), biases, a spiking output classified by spike count
    ["network.neuron={tau: 20.0, firing: '>', reset_at: next_step}", "network.bias=true",
     "network.layers.1.neuron=lif", "learning.optimizer.lr=0.2"],
    ["network.neuron={model: if, threshold: 1.0, reset: zero}"],
    ["network.neuron.firing='>'", "network.bias=true",
     "network.layers.0.neuron={tau: 4.0, threshold: 0.75}"],
])
def test_on_chip_ottt_learns_digits_with_the_neuron_options(tmp_path, sets):
    args = [a for o in ["learning.epochs=2", "output.plots=false", *sets] for a in ("--set", o)]
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), *args]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["config"]["chip"]["arithmetic"] == "fixed"
    assert report["final"]["test_accuracy"] > 0.85           # chance is 0.10
    if "network.bias=true" in sets:
        with np.load(tmp_path / "r" / "weights.npz") as w:
            assert np.any(w["fc1.bias"] != 0)                 # the biases learned on chip
        assert any(q["layer"] == "fc1.bias" for q in report["chip"]["quantization"])


def test_spiking_output_is_classified_by_spike_count_or_membrane(tmp_path):
    """The same trained spiking output read two ways: the spike-count rule's accuracy is what
    the spikes recorded in record.npz give (argmax of the counts, ties to the lowest class)."""
    base = ["learning.epochs=1", "output.plots=false", "network.layers.1.neuron=lif",
            "output.record=[spikes, membrane]"]
    out = {}
    for rule in ("spike_count", "membrane"):
        args = [a for o in base + [f"network.prediction={rule}"] for a in ("--set", o)]
        assert main(["run", EXAMPLE, "--out", str(tmp_path / rule), *args]) == 0
        out[rule] = json.loads((tmp_path / rule / "report.json").read_text())
    with np.load(tmp_path / "spike_count" / "record.npz") as r:
        counts = r["out.spikes"].sum(axis=1)
        membrane = r["out.membrane"].sum(axis=1)
    with np.load(tmp_path / "spike_count" / "weights.npz") as a, \
            np.load(tmp_path / "membrane" / "weights.npz") as b:
        trained_alike = all(np.array_equal(a[k], b[k]) for k in a.files)
    from chipsim.data.digits import load_digits
    y = load_digits(0.25, 0).y_test
    assert out["spike_count"]["final"]["test_accuracy"] == pytest.approx(
        np.mean(counts.argmax(axis=1) == y))
    if trained_alike:  # the rule changes predictions only, not learning
        assert out["membrane"]["final"]["test_accuracy"] == pytest.approx(
            np.mean(membrane.argmax(axis=1) == y))


def test_biases_are_counted_in_neuron_memory(tmp_path):
    """A bias register per neuron: chip.bits.bias bits more neuron state per neuron."""
    reports = {}
    for bias in ("false", "true"):
        args = [a for o in ["learning.epochs=0", "output.plots=false", f"network.bias={bias}"]
                for a in ("--set", o)]
        assert main(["run", EXAMPLE, "--out", str(tmp_path / bias), *args]) == 0
        reports[bias] = json.loads((tmp_path / bias / "report.json").read_text())
    state = {k: r["costs"]["memory"]["total"]["neuron_state"] for k, r in reports.items()}
    assert state["true"] - state["false"] == (128 + 10) * 16   # chip.bits.bias: 16
