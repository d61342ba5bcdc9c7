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


def test_the_sanafe_loihi_preset_has_the_values_of_sanafes_loihi_file():
    """Every figure sanafe_loihi takes from SANA-FE is the number in the file the sanafe
    wheel ships (energies pJ, latencies ns at the presets' 1 GHz clock)."""
    import yaml
    from importlib.resources import files

    from chipsim.chip.presets import LOIHI_CYCLES
    from chipsim.report.energy_tables import sanafe_loihi

    text = files("sanafe.examples").joinpath("loihi.yaml").read_text()
    arch = yaml.safe_load(text)["architecture"]
    tile = arch["tile"][0]["attributes"]
    core = arch["tile"][0]["core"][0]
    lif, = [s["attributes"] for s in core["soma"] if s["name"] == "loihi_lif"]
    dense, = [s["attributes"] for s in core["synapse"] if s["name"] == "loihi_dense_synapse"]
    out, into = core["axon_out"][0]["attributes"], core["axon_in"][0]["attributes"]
    pj = {k: v["pJ"] for k, v in sanafe_loihi().items()}
    e = lambda v: pytest.approx(v * 1e12)  # noqa: E731
    ns = lambda v: pytest.approx(v * 1e9)  # noqa: E731
    assert pj["synaptic_ops"] == e(dense["energy_process_spike"])
    assert pj["inactive_neuron_updates"] == e(lif["energy_access_neuron"])
    assert pj["active_neuron_updates"] == e(lif["energy_access_neuron"] + lif["energy_update_neuron"])
    assert pj["neuron_spikes"] == e(lif["energy_spike_out"])
    assert pj["spike_packets"] == pj["input_packets"] == e(out["energy_message_out"]
                                                          + into["energy_message_in"])
    assert (pj["hops_ew"], pj["hops_ns"]) == (e(tile["energy_east_hop"]), e(tile["energy_north_hop"]))
    assert LOIHI_CYCLES["synaptic_ops"] == ns(dense["latency_process_spike"])
    assert LOIHI_CYCLES["inactive_neuron_updates"] == ns(lif["latency_access_neuron"])
    assert LOIHI_CYCLES["active_neuron_updates"] == ns(lif["latency_access_neuron"]
                                                       + lif["latency_update_neuron"])
    assert LOIHI_CYCLES["neuron_spikes"] == ns(lif["latency_spike_out"] + out["latency_message_out"])
    assert LOIHI_CYCLES["spike_packets"] == ns(into["latency_message_in"])
    assert LOIHI_CYCLES["hop_cycles"] == ns(tile["latency_north_hop"])
    sync = {int(k): v for k, v in arch["attributes"]["latency_sync"].items()}
    assert {int(n): c for n, c in LOIHI_CYCLES["barrier_by_tiles"]} == {
        k: ns(v) for k, v in sync.items()}


def test_without_sanafe_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    import builtins

    sim, x, _ = small_network(tmp_path, "dense", NEURONS["dense, fire on >, subtracting reset"])
    real_import = builtins.__import__

    def no_sanafe(name, *args, **kwargs):
        if name == "sanafe":
            raise ImportError("No module named 'sanafe'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sanafe)
    with pytest.raises(ConfigError, match=r"pip install 'chipsim\[sanafe\]'"):
        crosscheck.run_sanafe(sim, x)
