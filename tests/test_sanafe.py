"""chipsim against SANA-FE's calibrated Loihi model (the sanafe extra): the same small networks,
integers, placement and input spikes in both (chipsim.sanafe_model). Spikes must agree
exactly; synaptic events, spikes and messages too; neuron updates, hops and every energy
(sanafe_loihi) once the stated differences are taken out (bench/sanafe_crosscheck.py's
reconciliation); latency within 25 %."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chipsim.errors import ConfigError
from chipsim.simulation import Simulation
from tests.conftest import load_script

sanafe = pytest.importorskip("sanafe", reason="needs SANA-FE (pip install 'chipsim[sanafe]')")
ROOT = Path(__file__).resolve().parents[1]
crosscheck = load_script(ROOT / "bench" / "sanafe_crosscheck.py")

NEURONS = {
    "conv, fire on >, reset to zero": {"model": "if", "firing": ">", "reset": "zero"},
    "dense, fire on >, subtracting reset": {"model": "if", "firing": ">", "reset": "subtract"},
    "dense, fire on >=, reset to zero": {"model": "if", "firing": ">=", "reset": "zero"},
}


def small_network(folder: Path, case: str, neuron: dict, steps: int = 24):
    """A random integer network on several cores of 32 neurons: (simulation, input,
    evaluation) as the cross-check builds them."""
    rng = np.random.default_rng(3)
    conv = case.startswith("conv")
    if conv:
        shape, layers = [2, 8, 8], [{"name": "c1", "type": "conv2d", "channels": 4, "kernel": 3},
                                    {"type": "flatten"}, {"name": "out", "units": 5}]
        weights = {"c1": rng.integers(-3, 6, (4, 2, 3, 3)), "out": rng.integers(-3, 5, (5, 144))}
    else:
        shape, layers = [20], [{"name": "h", "units": 40}, {"name": "out", "units": 5}]
        weights = {"h": rng.integers(-3, 6, (40, 20)) * (rng.random((40, 20)) < 0.7),
                   "out": rng.integers(-3, 5, (5, 40))}
    np.savez(folder / "w.npz", **{k: v.astype(np.float32) for k, v in weights.items()})
    config = {"data": {"source": "npz", "path": str(folder / "d.npz")},
              "network": {"input_shape": shape, "layers": layers,
                          "neuron": {**neuron, "threshold": 6.0},
                          "init": {"weights": str(folder / "w.npz")}},
              "learning": {"rule": "none"},
              "chip": {"preset": "sanafe_loihi", "core": {"neurons": 32},
                       "bits": {"weight": 8, "membrane": 24, "trace": 16}},
              "output": {"plots": False}}

    def build(x):
        crosscheck.write_input(folder / "d.npz", x)
        return Simulation({**config, "data": {**config["data"], "timesteps": len(x)}})

    x = (rng.random((steps, int(np.prod(shape)))) < 0.3).astype(np.uint8)
    return crosscheck.with_quiet_tail(build, x, 2)


@pytest.mark.parametrize("case", NEURONS)
def test_a_small_network_agrees_with_sanafe(tmp_path, case):
    sim, x, evaluation = small_network(tmp_path, case, NEURONS[case])
    assert len(sim.placement.cores) >= 3  # spikes cross cores (and tiles' routers)
    r = crosscheck.compare(case, sim, x, evaluation)
    assert r["spikes_identical"], r["layers"]
    assert sum(layer["chipsim"] for layer in r["layers"]) > 20  # the network does spike
    for name, (mine, theirs, fixed) in r["events"].items():
        assert (mine if fixed is None else fixed) == theirs, name
    for name, (mine, theirs, fixed) in r["energy_per_step_pJ"].items():
        assert (mine if fixed is None else fixed) == pytest.approx(theirs, rel=1e-9), name
    latency = r["latency_per_step_us"]
    for model in ("SANA-FE detailed", "SANA-FE simple"):
        assert latency["chipsim"] == pytest.approx(latency[model], rel=0.25)


def test_neurons_sanafe_cannot_compute_are_refused_naming_the_layer(tmp_path):
    sim, x, _ = small_network(tmp_path, "dense", {"model": "if", "firing": ">=",
                                                  "reset": "subtract"})
    with pytest.raises(ConfigError, match="layer 'h': firing on u >= threshold with reset by "
                                          "subtraction"):
        crosscheck.run_sanafe(sim, x)


def test_the_dvs_input_is_the_tutorials_rate_coding():
    """SANA-FE's tutorial input neuron: v += bias, a spike when v > 255, then v = 0."""
    spikes = crosscheck.rate_coded_frame(np.array([0.0, 100.0, 255.0, 256.0]), 255, 6)
    assert not spikes[:, 0].any()
    assert list(spikes[:, 1]) == [0, 0, 1, 0, 0, 1]   # 300 > 255 at the third step
    assert list(spikes[:, 2]) == [0, 1, 0, 1, 0, 1]   # 255 itself does not fire
    assert spikes[:, 3].all()
