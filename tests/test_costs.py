"""The cost model: energy = counts x table, counts against recorded spikes, a hand-worked
2-core chip, placement over several cores, design-rule violations (exit 3)."""
import json

import numpy as np
import pytest

from chipsim.cli import main
from chipsim.report.energy_tables import PRICED_NAMES

from conftest import ROOT, write_yaml

EXAMPLE = str(ROOT / "examples" / "digits_ottt.yaml")


def run_report(tmp_path, *sets, config=EXAMPLE, name="r"):
    args = [a for o in sets for a in ("--set", o)]
    assert main(["run", str(config), "--out", str(tmp_path / name), *args]) == 0
    return json.loads((tmp_path / name / "report.json").read_text())


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits")
    return run_report(path, "learning.epochs=1"), path / "r"


@pytest.fixture(scope="module")
def digits_report(digits_run):
    return digits_run[0]


def test_every_energy_is_counts_times_table(digits_report):
    costs = digits_report["costs"]
    assert {"loihi2018", "horowitz45"} <= set(costs["energy_tables"])
    for part in ("training", "inference"):
        p = costs[part]
        for name, table in costs["energy_tables"].items():
            e = p["energy"][name]
            for event in PRICED_NAMES:
                assert e["by_event_pJ"][event] == pytest.approx(
                    p["events_total"][event] * table[event]["pJ"], rel=1e-12, abs=1e-9)
            assert e["total_pJ"] == pytest.approx(sum(e["by_event_pJ"].values()), rel=1e-12)
            for core, counts in p["events_per_core"].items():
                assert e["by_core_pJ"][core] == pytest.approx(
                    sum(counts[ev] * table[ev]["pJ"] for ev in PRICED_NAMES), rel=1e-12)
            assert e["per_sample_pJ"] == pytest.approx(e["total_pJ"] / p["samples"])
    loihi = costs["energy_tables"]["loihi2018"]
    assert loihi["synaptic_ops"]["pJ"] == 23.6 and loihi["weight_updates"]["pJ"] == 120.0
    assert loihi["hops_ew"]["pJ"] == 3.0 and loihi["hops_ns"]["pJ"] == 4.0


def test_memory_against_t_and_plots(digits_run):
    digits_report, out = digits_run
    rows = digits_report["costs"]["memory"]["ottt_vs_bptt"]
    assert [r["T"] for r in rows] == [4, 6, 8, 16, 32, 64]
    assert len({r["ottt_state_bits"] for r in rows}) == 1           # flat in T
    bptt = [r["bptt_state_bits"] for r in rows]
    assert bptt == sorted(bptt) and (bptt[-1] - bptt[0]) % 60 == 0   # linear: 60 steps apart
    assert "| 64 |" in (out / "summary.md").read_text()
    for plot in ("memory_vs_T", "energy_breakdown", "memory_per_core", "cycles_per_phase",
                 "spike_raster"):
        assert (out / f"{plot}.png").stat().st_size > 0


def test_synaptic_ops_equal_recorded_spikes_times_fan_out(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((40, 5, 12)) < 0.3).astype(float)
    y = np.arange(40) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:10], y_test=y[:10])
    cfg = write_yaml(tmp_path / "n.yaml", {
        "data": {"source": "npz", "path": str(tmp_path / "d.npz"), "timesteps": 5},
        "network": {"layers": [{"name": "a", "units": 7}, {"name": "b", "units": 6},
                               {"name": "out", "units": 3, "neuron": "readout"}],
                    "init": {"gain": 3.0}},
        "learning": {"epochs": 1},
        "chip": {"core": {"neurons": 4}},
        "output": {"record": ["spikes"], "plots": False}})
    report = run_report(tmp_path, config=cfg)
    with np.load(tmp_path / "r" / "record.npz") as rec:
        spikes_a, spikes_b = rec["a.spikes"].sum(), rec["b.spikes"].sum()
    assert spikes_a > 0 and spikes_b > 0
    independent = x[:10].sum() * 7 + spikes_a * 6 + spikes_b * 3
    counted = report["costs"]["inference"]["events_total"]["synaptic_ops"]
    assert counted == independent
    layers = report["chip"]["counts"]["inference"]
    assert layers["a"]["synaptic_ops"] + layers["b"]["synaptic_ops"] + \
        layers["out"]["synaptic_ops"] == independent
    # a (7 neurons) and b (6) are split over cores of 4 neurons: per-core counts add up
    place = report["costs"]["placement"]["layers"]
    assert len(place["a"]) == 2 and len(place["b"]) == 2 and len(place["out"]) == 1
    per_core = report["costs"]["training"]["events_per_core"]
    for layer, ids in place.items():
        total = report["chip"]["counts"]["training"][layer]
        assert sum(per_core[str(c)]["weight_updates"] for c in ids) == total["weight_updates"]
        assert sum(per_core[str(c)]["active_neuron_updates"] for c in ids) == \
            total["active_neuron_updates"]


def test_hand_worked_two_core_chip(tmp_path):
    """2 inputs -> 2 LIF (core 0 at (0,0)) -> 2 read-out (core 1 at (1,0)); one sample, T = 2,
    input spikes t0: [1, 0], t1: [1, 1]; identity hidden weights, threshold 1: hidden neuron 0
    fires at t0 and t1, neuron 1 at t1 (3 spikes)."""
    x = np.array([[[1.0, 0.0], [1.0, 1.0]]])
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0]), x_test=x, y_test=np.array([0]))
    np.savez(tmp_path / "w.npz", h=np.eye(2), out=np.array([[0.5, 0.5], [0.0, 0.0]]))
    table = {name: 0.0 for name in PRICED_NAMES}
    table.update(synaptic_ops=1.0, active_neuron_updates=10.0, inactive_neuron_updates=5.0,
                 spike_packets=100.0, hops_ew=1000.0, input_packets=0.5, static_core_steps=0.25)
    cycles = {name: 0.0 for name in ("error_packets", "trace_updates", "error_reads",
                                     "modulator_ops", "weight_updates", "accumulator_updates",
                                     "accumulator_reads")}
    cycles.update(synaptic_ops=1, synapse_rows_read=2, active_neuron_updates=1,
                  inactive_neuron_updates=1, input_packets=1, spike_packets=1, clock_mhz=1,
                  barrier=16, hop_cycles=1, link_cycles_per_packet=1, realtime_step_us=1000)
    cfg = write_yaml(tmp_path / "n.yaml", {
        "data": {"source": "npz", "path": str(tmp_path / "d.npz"), "timesteps": 2},
        "network": {"layers": [{"name": "h", "units": 2},
                               {"name": "out", "units": 2, "neuron": "readout"}],
                    "init": {"weights": str(tmp_path / "w.npz")}},
        "learning": {"rule": "none"},
        "chip": {"mesh": [2, 1], "weight_headroom": 2.0, "energy": table, "cycles": cycles},
        "output": {"plots": False}})
    costs = run_report(tmp_path, config=cfg)["costs"]
    assert "training" not in costs
    inf = costs["inference"]
    core0, core1 = inf["events_per_core"]["0"], inf["events_per_core"]["1"]
    assert (core0["synapse_rows_read"], core0["synaptic_ops"], core0["input_packets"]) == (3, 6, 3)
    assert (core0["active_neuron_updates"], core0["inactive_neuron_updates"]) == (3, 1)
    assert (core0["neuron_spikes"], core1["neuron_spikes"]) == (3, 0)   # a read-out: no spikes
    assert (core0["hops_ew"], core0["hops_ns"], core0["spike_packets"]) == (3, 0, 0)
    assert (core1["synapse_rows_read"], core1["synaptic_ops"], core1["spike_packets"]) == (3, 6, 3)
    assert (core1["active_neuron_updates"], core1["inactive_neuron_updates"]) == (2, 2)
    assert core0["static_core_steps"] == core1["static_core_steps"] == 2
    energy = inf["energy"]["user"]
    assert costs["primary_energy_table"] == "user"
    # 12 syn ops x 1 + 5 active x 10 + 3 inactive x 5 + 3 spike packets x 100 + 3 hops x 1000
    # + 3 input packets x 0.5 + 4 core-steps x 0.25
    assert energy["total_pJ"] == pytest.approx(12 + 50 + 15 + 300 + 3000 + 1.5 + 1.0)
    c = inf["cycles"]
    # each core: rows 3 x 2 + ops 6 + packets 3 = 15 delivery + 4 neuron updates = 19 cycles
    assert c["per_core_per_phase"]["0"] == {"spike_delivery": 15, "neuron_update": 4,
                                            "trace_update": 0, "learning": 0}
    assert c["per_core_per_phase"]["1"]["spike_delivery"] == 15
    step = c["per_step"]
    # 19 / 2 steps + routing (3 packets on the busiest link / 2 steps + 1 hop) + barrier 16
    assert step["core_cycles"] == 9.5 and step["routing_cycles"] == 2.5
    assert step["latency_cycles"] == 28.0 and step["latency_us"] == 28.0
    assert step["realtime_factor"] == pytest.approx(1000 / 28)
    mem = {r["core"]: r for r in costs["memory"]["per_core"]}
    # 2 rows of 2 x 8-bit weights, each padded to one 64-bit word
    assert (mem[0]["sram_weights"], mem[0]["sram_weights_unpadded"]) == (128, 32)
    assert mem[0]["neuron_state"] == 2 * 16 and mem[0]["trace_registers"] == 0
    assert mem[0]["routing_table"] == 1 * (1 + 12)   # one destination: 1-bit address, 12-bit axon
    assert mem[1]["sram_used"] == 128 and mem[1]["routing_table"] == 0


def hand_worked(tmp_path, chip: dict, hidden: int = 2):
    """Inputs t0: [1, 0], t1: [1, 1] -> ``hidden`` LIF (identity-like) -> 2 read-out; T = 2."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    x = np.array([[[1.0, 0.0], [1.0, 1.0]]])
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0]), x_test=x, y_test=np.array([0]))
    np.savez(tmp_path / "w.npz", h=np.eye(hidden, 2), out=np.full((2, hidden), 0.5))
    cfg = write_yaml(tmp_path / "n.yaml", {
        "data": {"source": "npz", "path": str(tmp_path / "d.npz"), "timesteps": 2},
        "network": {"layers": [{"name": "h", "units": hidden},
                               {"name": "out", "units": 2, "neuron": "readout"}],
                    "init": {"weights": str(tmp_path / "w.npz")}},
        "learning": {"rule": "none"},
        "chip": {"weight_headroom": 2.0, **chip},
        "output": {"plots": False}})
    return run_report(tmp_path, config=cfg)["costs"]


def test_routers_serving_tiles_count_hops_and_barriers_by_tile(tmp_path):
    """Two cores in a row: on routers of 1 x 1 cores a spike packet makes a hop and the run
    uses 2 tiles; on a router serving 2 x 1 cores (chip.tile) no hop and 1 tile."""
    barrier = {"barrier_by_tiles": [[1, 600.0], [2, 1000.0]], "hop_cycles": 0,
               "link_cycles_per_packet": 0}
    apart = hand_worked(tmp_path / "a", {"mesh": [2, 1], "cycles": barrier})
    shared = hand_worked(tmp_path / "b", {"mesh": [2, 1], "tile": [2, 1], "cycles": barrier})
    for costs, hops, tiles_barrier in ((apart, 3, 1000.0), (shared, 0, 600.0)):
        inf = costs["inference"]
        assert inf["events_total"]["spike_packets"] == 3
        assert inf["events_total"]["hops_ew"] == hops
        assert inf["cycles"]["per_step"]["barrier_cycles"] == tiles_barrier
    default = hand_worked(tmp_path / "c", {"mesh": [2, 1]})   # no table: chip.cycles.barrier
    assert default["inference"]["cycles"]["per_step"]["barrier_cycles"] == 16


def test_each_core_of_a_split_first_layer_receives_every_input_event_in_its_window(tmp_path):
    """4 hidden neurons on 2 cores (2 each): both cores' axons listen to both inputs, so each
    receives all 3 input events and reads 3 rows of its 2 neurons' weights."""
    costs = hand_worked(tmp_path, {"mesh": [3, 1], "core": {"neurons": 2}}, hidden=4)
    per_core = costs["inference"]["events_per_core"]
    hidden = costs["placement"]["layers"]["h"]
    assert len(hidden) == 2
    for core in hidden:
        e = per_core[str(core)]
        assert (e["input_packets"], e["synapse_rows_read"], e["synaptic_ops"]) == (3, 3, 6)


def test_the_sanafe_loihi_table_gives_every_event_with_its_source():
    from chipsim.report.energy_tables import PRICED_NAMES, sanafe_loihi

    table = sanafe_loihi()
    assert set(table) == set(PRICED_NAMES)
    assert all(entry["source"] for entry in table.values())
    for event in ("synaptic_ops", "active_neuron_updates", "inactive_neuron_updates",
                  "neuron_spikes", "spike_packets", "input_packets", "hops_ew", "hops_ns"):
        assert "sanafe/examples/loihi.yaml" in table[event]["source"], event
    for event in ("weight_updates", "accumulator_updates", "trace_updates", "modulator_ops"):
        assert "SANA-FE models no learning" in table[event]["source"], event


def test_backward_copy_trades_memory_for_reads(tmp_path):
    read = run_report(tmp_path, "learning.epochs=1", name="read")["costs"]
    copy = run_report(tmp_path, "learning.epochs=1", "chip.backward=copy", name="copy")["costs"]
    m_read, m_copy = read["memory"]["total"], copy["memory"]["total"]
    assert m_read["sram_transposed_copy"] == 0
    assert m_copy["sram_transposed_copy"] == 10 * 128 * 8   # out: 10 rows of 128 weights
    r, c = read["training"]["events_total"], copy["training"]["events_total"]
    assert c["error_reads"] < r["error_reads"]
    assert c["weight_updates"] > r["weight_updates"]   # both copies are written


@pytest.mark.parametrize("sets,needles", [
    (["chip.core.axons=32", "chip.split_fan_in=false"],
     ["layer 'fc1' (fan_in_fits_axons): needs 64 input axons",
                              "a core has 32 (chip.core.axons)",
                              "layer 'out' (fan_in_fits_axons): needs 128 input axons"]),
    (["chip.core.neurons=8", "chip.mesh=[2, 2]"],
     ["network (cores_fit_mesh): needs 18 cores ('fc1': 16, 'out': 2), the chip has 4"]),
    (["chip.core.synapse_memory_kib=1", "chip.bits.weight=16", "chip.core.word_bits=1024"],
     ["layer 'out' (neuron_fits_memory): one neuron's synapse rows need 262144 bits",
      "a core has 8192 (1 KiB, chip.core.synapse_memory_kib)"]),
])
def test_network_that_does_not_fit_exits_3(tmp_path, capsys, sets, needles):
    args = [a for o in sets for a in ("--set", o)]
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), *args]) == 3
    err = capsys.readouterr().err
    assert "does not fit the chip" in err and "Traceback" not in err
    for needle in needles:
        assert needle in err
    assert not (tmp_path / "r").exists()   # refused at load: nothing written


def test_split_fan_in_sends_partial_sums_and_keeps_the_numbers(tmp_path, digits_report):
    split = run_report(tmp_path, "learning.epochs=1", "chip.core.axons=48")
    place = split["costs"]["placement"]["layers"]
    assert len(place["fc1"]) == 2 and len(place["out"]) == 3    # 64 = 2 x 32, 128 = 3 x 43
    assert split["final"] == digits_report["final"]              # the mapping changes no number
    inf = split["costs"]["inference"]
    # every step each partial core sends its neurons' sums: (128 + 2 x 10) x 6 steps x 451
    assert inf["events_total"]["partial_sum_packets"] == (128 + 2 * 10) * 6 * 451
    assert inf["events_total"]["synaptic_ops"] == pytest.approx(
        digits_report["costs"]["inference"]["events_total"]["synaptic_ops"])
    mem = split["costs"]["memory"]["per_core"]
    assert all(r["axons"] <= 48 for r in mem)


def test_user_energy_table_must_be_complete(tmp_path, capsys):
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), "--set", "learning.epochs=0",
                 "--set", "chip.energy={synaptic_ops: 1.0, bogus: 2.0}"]) == 2
    err = capsys.readouterr().err
    assert "chip.energy: a user table needs pJ for every event; missing: synapse_rows_read" in err
    assert "unknown: bogus" in err


def test_reports_and_figures_say_whether_a_table_depends_on_the_widths(digits_report):
    """horowitz45 composes events at the chip's widths (a synaptic op costs more at 16 bits
    than at 4), loihi2018 does not; report.json and the sweep figures say which is which."""
    from types import SimpleNamespace

    from chipsim.config import BitsConfig
    from chipsim.report.energy_tables import horowitz45, loihi2018
    from chipsim.report.sweep_plots import Results, _width_note

    assert digits_report["costs"]["energy_tables_width_dependent"] == {
        "loihi2018": False, "horowitz45": True, "sanafe_loihi": False}
    ops = [horowitz45(BitsConfig(weight=bits), 128)["synaptic_ops"]["pJ"] for bits in (4, 8, 16)]
    assert ops == sorted(ops) and ops[0] < ops[-1]
    assert loihi2018()["synaptic_ops"]["pJ"] == 23.6  # at any width
    rows = tuple({"status": "ok", "energy_table": t} for t in ("horowitz45", "loihi2018"))
    over_bits = Results(SimpleNamespace(), "s", (), ("chip.bits.weight",), rows)
    note = _width_note(over_bits)
    assert "horowitz45 composes every event at the chip's bit widths" in note
    assert "loihi2018 prices a synaptic op the same at every weight width" in note
    assert _width_note(Results(SimpleNamespace(), "s", (), ("learning.lr",), rows)) == ""
