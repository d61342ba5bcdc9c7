"""chipsim's cost model against SANA-FE's calibrated Loihi model, on the same networks and
the same input spikes (the sanafe extra: ``pip install sanafe``).

Two networks, each run once in chipsim (chip.preset sanafe_loihi) and once in SANA-FE 2.2.9
(its Loihi architecture file, the same placement: chipsim.sanafe_model):
- dvs: SANA-FE's shipped DVS-gesture CNN and input frame (``sanafe/examples/dvs_challenge.npz``,
  the network of its tutorial 5: 32x32 input, four 3x3 convs, the first with stride 2, then
  dense 11; integrate-and-fire, fire on v > threshold, hard reset). The tutorial drives the
  input layer with a bias per pixel (rate coding: a neuron adds its bias every step and fires
  above 255, resetting to 0); the same spike trains are computed here and given to both
  simulators. T = 128 steps (the frame length of SANA-FE's Loihi measurements).
- digits: a 64-128-10 integrate-and-fire network (fire on u > threshold, subtracting reset,
  spiking output) trained on chip by chipsim with OTTT_A (examples/sanafe_digits.yaml), then
  20 test digits, Bernoulli rate-coded, T = 16 each, one after the other in one run.
Each input ends with as many silent steps as the network has layers (SANA-FE delivers a spike
one step later per layer; see chipsim.sanafe_model).

Printed per network, side by side: spikes per layer (they must agree exactly), synaptic
events, neuron updates, messages, hops, energy per time step by event type under
sanafe_loihi, and latency per time step against SANA-FE's detailed and simple timing models.
Writes bench/results/sanafe_crosscheck.json and .md (the README's rows are rendered from the
json by bench/readme_numbers.py). About 30 s and a 5 GB peak of memory (SANA-FE's Loihi
holds its 128 cores' units in memory; the DVS network takes 4.5 GB while it runs).

Run: python bench/sanafe_crosscheck.py [--dvs-steps 128] [--digits-samples 20]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chipsim.chip.formats import RESET_ZERO  # noqa: E402
from chipsim.chip.reference import conv_of  # noqa: E402
from chipsim.ops import forward  # noqa: E402
from chipsim.report.costs import core_window, layer_shapes  # noqa: E402
from chipsim.report.writer import write_text  # noqa: E402
from chipsim.sanafe_model import run_sanafe, sanafe_core, tile_position  # noqa: E402
from chipsim.simulation import Simulation  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sanafe_crosscheck.json"
TABLE = "sanafe_loihi"
PJ = 1e12


def rate_coded_frame(bias: np.ndarray, threshold: float, steps: int) -> np.ndarray:
    """SANA-FE's tutorial input neurons: v += bias every step, a spike when v > threshold,
    then v = 0. Returns (steps, inputs) uint8."""
    v = np.zeros_like(bias, dtype=np.float64)
    out = np.zeros((steps, bias.size), np.uint8)
    for t in range(steps):
        v += bias
        out[t] = v > threshold
        v[out[t] == 1] = 0.0
    return out


def with_quiet_tail(build, x: np.ndarray, layers: int):
    """(simulation, input, evaluation) for ``x`` followed by silent steps, as many as it takes
    for the chip's network to be silent in its last ``layers`` steps (a neuron whose potential
    is many thresholds high keeps firing after its input ends when its reset subtracts).
    ``build(x)`` writes ``x`` as the data and makes the Simulation."""
    tail = layers
    while tail <= 4096:
        xt = np.concatenate([x, np.zeros((tail, x.shape[1]), x.dtype)])
        sim = build(xt)
        evaluation = sim.evaluate(record=("spikes", "membrane"))
        if not any(v[0, -layers:].any() for k, v in evaluation.recordings.items()
                   if k.endswith(".spikes")):
            return sim, xt, evaluation
        tail *= 2
    raise RuntimeError("the network keeps spiking 4096 steps after its input ends (a bias?): "
                       "the two simulators' runs cannot both hold all its spikes")


def write_input(path: Path, x: np.ndarray) -> None:
    """One sample (the whole run) as chipsim's npz data source."""
    x = x[None].astype(np.float32)
    np.savez(path, x=x, y=np.zeros(1, np.int64), x_test=x, y_test=np.zeros(1, np.int64))


def dvs_simulation(folder: Path, steps: int):
    """The shipped DVS-gesture CNN in chipsim on its rate-coded frame: (simulation, input,
    evaluation), see with_quiet_tail."""
    with files("sanafe.examples").joinpath("dvs_challenge.npz").open("rb") as f:
        d = {k: v for k, v in np.load(f).items()}
    th = [float(t) for t in d["thresholds"]]
    names = ["conv1", "conv2", "conv3", "conv4", "dense1"]
    # SANA-FE's kernels are [ky][kx][in][out], its dense weights (in, out)
    weights = {n: d[n].transpose(3, 2, 0, 1) for n in names[:4]}
    weights["dense1"] = d["dense1"].T
    np.savez(folder / "dvs_weights.npz", **weights)
    layers = [{"name": n, "type": "conv2d", "channels": int(d[n].shape[3]), "kernel": 3,
               "stride": 2 if n == "conv1" else 1, "neuron": {"threshold": th[i + 1]}}
              for i, n in enumerate(names[:4])]
    layers += [{"type": "flatten"},
               {"name": "dense1", "units": 11, "neuron": {"threshold": th[5]}}]
    config = {
        "data": {"source": "npz", "path": str(folder / "dvs_data.npz")},
        "network": {"input_shape": [1, 32, 32], "layers": layers,
                    "neuron": {"model": "if", "firing": ">", "reset": "zero"},
                    "init": {"weights": str(folder / "dvs_weights.npz")}},
        "learning": {"rule": "none"},
        # integer weights up to 289 and potentials that drift far below zero: 16-bit weights,
        # a 32-bit membrane with room for the drift (SANA-FE's potentials are unbounded).
        # conv4 listens to 7,744 inputs: a 4096-axon core would split it over two cores with
        # partial sums, which SANA-FE does not model (its cores have no axon limit)
        "chip": {"preset": "sanafe_loihi", "bits": {"weight": 16, "membrane": 32},
                 "membrane_headroom": 1e6, "core": {"axons": 8192}},
        "output": {"plots": False}}

    def build(x):
        write_input(folder / "dvs_data.npz", x)
        return Simulation(dict(config, data=dict(config["data"], timesteps=len(x))), name="dvs")

    return with_quiet_tail(build, rate_coded_frame(d["inputs"], th[0], steps), len(names))


def digits_simulation(folder: Path, samples: int, steps: int):
    """examples/sanafe_digits.yaml trained on chip, then ``samples`` test digits rate-coded
    (Bernoulli, seed 0) one after another, with no reset between them: (simulation, input,
    evaluation), see with_quiet_tail."""
    trained = Simulation(ROOT / "examples" / "sanafe_digits.yaml",
                         overrides=["output.plots=false"])
    trained.train()
    trained.save(folder / "digits_run")
    x_test = np.asarray(trained.data.x_test)[:samples]
    rng = np.random.default_rng(0)
    x = (rng.random((samples, steps, x_test.shape[-1])) < x_test[:, None, :]).astype(np.uint8)
    config = {"data": {"source": "npz", "path": str(folder / "digits_data.npz")},
              "network": {"model": str(folder / "digits_run")},
              "learning": {"rule": "none"},
              # (16-bit traces: an inference run never updates them, and this width would
              # hold them for a run of this length)
              "chip": {"preset": "sanafe_loihi", "bits": {"weight": 8, "membrane": 24,
                                                          "trace": 16}},
              "output": {"plots": False}}

    def build(x):
        write_input(folder / "digits_data.npz", x)
        sim = Simulation(dict(config, data=dict(config["data"], timesteps=len(x))),
                         name="digits")
        sim.accuracy = trained.epochs[-1]["test_accuracy"]
        return sim

    return with_quiet_tail(build, x.reshape(-1, x.shape[-1]), len(trained.chip.names))


def rest_receptions(sim: Simulation, x: np.ndarray, rec: dict) -> int:
    """Updates that SANA-FE makes and chipsim does not: a neuron at rest (v = 0) that receives
    spikes whose weights sum to zero. SANA-FE updates a neuron that receives any message,
    chipsim one whose input or potential is nonzero. Counted from the chip's recordings over
    the steps both runs cover (spiking integrate-and-fire layers: v[t] = u[t] after reset,
    input[t] = u[t] - v[t - 1])."""
    m, chip = sim.chip.memories, sim.chip
    pre, steps, total = np.asarray(x) != 0, len(x), 0
    for l, name in enumerate(chip.names):
        u = np.asarray(rec[f"{name}.membrane"])[0]
        s = np.asarray(rec[f"{name}.spikes"])[0] != 0
        threshold = float(chip.formats.layers[l].membrane.to_real(np.array([m.threshold[l]]))[0])
        v = np.where(s, 0.0 if int(m.reset_mode[l]) == RESET_ZERO else u - threshold, u)
        v_prev = np.vstack([np.zeros((1, v.shape[1])), v[:-1]])
        if m.conv[l]:  # an output position receives when any input of its window spiked
            conv = conv_of(m, l, 1, 1)
            c, h, w = (int(m.pre_c[l]), int(m.pre_h[l]), int(m.pre_w[l]))
            hit = forward(conv, np.ones((1, 1, *conv.kernel)),
                          pre.reshape(steps, c, h * w).any(axis=1).astype(np.float64)) > 0
            received = np.tile(hit, (1, int(m.out_c[l])))
        else:          # all-to-all: every neuron receives when any input spiked
            received = np.broadcast_to(pre.any(axis=1)[:, None], u.shape)
        at_rest = received & (v_prev == 0) & (u - v_prev == 0)
        total += int(at_rest[:steps - (l + 1)].sum())
        pre = s
    return total


def input_hops(sim: Simulation, x: np.ndarray, input_core: int) -> tuple[int, int]:
    """(east-west, north-south) hops of the input messages in SANA-FE (chipsim's inputs come
    from the host, without hops): each input event goes from the input core to every
    first-layer core whose input window holds it."""
    _, in_shape = layer_shapes(sim.chip.memories)
    events = np.asarray(x).sum(axis=0)
    sx, sy = tile_position(input_core)
    ew = ns = 0
    for dst in sim.placement.cores_of(0):
        window = core_window(dst, in_shape)
        sent = int((events if window is None else events[window]).sum())
        tx, ty = tile_position(sanafe_core(dst.x, dst.y))
        ew, ns = ew + sent * abs(sx - tx), ns + sent * abs(sy - ty)
    return ew, ns


def compare(name: str, sim: Simulation, x: np.ndarray, evaluation,
            timing_models=("detailed", "simple")):
    """Both simulators on ``x`` (``evaluation``: the chip's, recording spikes and membranes):
    the side-by-side numbers, and chipsim's with each stated difference taken out."""
    costs = sim.costs()
    inf = costs["inference"]
    events, table = inf["events_total"], costs["energy_tables"][TABLE]
    energy = inf["energy"][TABLE]["by_event_pJ"]
    pj = {e: v["pJ"] for e, v in table.items()}
    steps = x.shape[0]
    runs = {tm: run_sanafe(sim, x, timing_model=tm) for tm in timing_models}
    sf, perf = runs[timing_models[0]], runs[timing_models[0]].perf
    rec = evaluation.recordings
    layers = []
    for n, theirs in zip(sim.chip.names, sf.spikes):
        mine = np.asarray(rec[f"{n}.spikes"])[0] != 0
        layers.append({"layer": n, "chipsim": int(mine.sum()), "sanafe": int(theirs.sum()),
                       "differing": int((mine != (theirs != 0)).sum())})
    # SANA-FE's run ends l + 1 steps into layer l's last steps on chipsim (its delivery
    # delay): chipsim updates layer l's neurons that keep a potential (in the silent tail
    # nothing else is active) l + 1 steps more
    late = sum((l + 1) * int(np.count_nonzero(np.asarray(rec[f"{n}.membrane"])[0, -1]))
               for l, n in enumerate(sim.chip.names))
    at_rest = rest_receptions(sim, x, rec)
    active = events["active_neuron_updates"]
    ew, ns = input_hops(sim, x, sf.input_core)
    hops = events["hops_ew"] + events["hops_ns"]
    messages = events["input_packets"] + events["spike_packets"]
    soma = sum(energy[e] for e in ("active_neuron_updates", "inactive_neuron_updates",
                                   "neuron_spikes"))
    network = sum(energy[e] for e in ("input_packets", "spike_packets", "hops_ew", "hops_ns"))
    update_pj = pj["active_neuron_updates"] - pj["inactive_neuron_updates"]
    soma_as_sanafe = soma + (at_rest - late) * update_pj
    network_as_sanafe = network + ew * pj["hops_ew"] + ns * pj["hops_ns"]
    synapse = energy["synaptic_ops"] + energy["synapse_rows_read"]
    total = inf["energy"][TABLE]["total_pJ"]
    theirs = {k: sf.energy_j[k] * PJ for k in ("synapse", "soma", "network", "total")}
    # SANA-FE's simple timing: per step, the larger of the slowest core's neuron processing
    # and the slowest core's message processing, plus the synchronisation; chipsim: the
    # busiest core's neuron and message processing together, plus routing and the barrier
    cyc = inf["cycles"]
    phases = cyc["per_core_per_phase"].values()
    simple_formula = (max(max(p["neuron_update"] for p in phases),
                          max(p["spike_delivery"] for p in phases)) / steps
                      + cyc["per_step"]["barrier_cycles"]) / 1e3
    return {
        "network": name, "steps": steps, "inputs": int(x.shape[1]),
        "input_spikes": sf.input_spikes, "layers": layers,
        "spikes_identical": not any(layer["differing"] for layer in layers),
        "cores": len(sim.placement.cores), "sanafe_tiles_used": sf.tiles_used,
        "accuracy": getattr(sim, "accuracy", None),
        # [chipsim, SANA-FE, chipsim with the stated differences taken out or None]
        "events": {
            "neuron spikes": [events["neuron_spikes"], int(perf["fired"].sum()) - sf.input_spikes,
                              None],
            "synaptic events (synapses looked up)": [events["synaptic_ops"],
                                                     int(perf["spikes"].sum()), None],
            "messages (input + spike packets)": [messages, sf.packets, None],
            "active neuron updates": [active, int(perf["updated"].sum()) - sf.input_spikes,
                                      active - late + at_rest],
            "hops": [hops, int(perf["hops"].sum()), hops + ew + ns],
        },
        "differences": {"updates after SANA-FE's run ends (chipsim only)": late,
                        "updates at rest on inputs that sum to zero (SANA-FE only)": at_rest,
                        "hops of the input messages (SANA-FE only)": ew + ns},
        "energy_per_step_pJ": {
            "synapse": [synapse / steps, theirs["synapse"] / steps, None],
            "soma": [soma / steps, theirs["soma"] / steps, soma_as_sanafe / steps],
            "network": [network / steps, theirs["network"] / steps, network_as_sanafe / steps],
            "total": [total / steps, theirs["total"] / steps,
                      (total - soma - network + soma_as_sanafe + network_as_sanafe) / steps]},
        "latency_per_step_us": {
            "chipsim": cyc["per_step"]["latency_us"],
            "chipsim counts, SANA-FE's simple formula": simple_formula,
            **{f"SANA-FE {tm}": float(r.perf["sim_time"].mean() * 1e6) for tm, r in runs.items()}},
        "barrier_us": cyc["per_step"]["barrier_cycles"] / 1e3,
    }


def render(result: dict) -> str:
    """A markdown table of one network's comparison."""
    r = result
    lines = [f"### {r['network']}: {r['steps']} steps, {r['inputs']} inputs "
             f"({r['input_spikes']:,} input spikes), {r['cores']} cores "
             f"({r['sanafe_tiles_used']} Loihi tiles in SANA-FE)", "",
             "| quantity | chipsim | SANA-FE | chipsim / SANA-FE | chipsim, stated differences "
             "taken out |", "|---|---:|---:|---:|---:|"]

    def row(label, mine, theirs, fixed=None, fmt="{:,.0f}"):
        ratio = f"{mine / theirs:.3f}" if theirs else "-"
        if fixed is not None:
            fixed = fmt.format(fixed) + (" (identical)" if round(fixed, 6) == round(theirs, 6)
                                         else f" ({fixed / theirs:.3f})")
        lines.append(f"| {label} | {fmt.format(mine)} | {fmt.format(theirs)} | {ratio} | "
                     f"{fixed or '-'} |")

    for layer in r["layers"]:
        same = "identical" if not layer["differing"] else \
            f"{layer['differing']} (step, neuron) pairs differ"
        lines.append(f"| spikes, {layer['layer']} | {layer['chipsim']:,} | {layer['sanafe']:,} "
                     f"| {same} | |")
    for label, values in r["events"].items():
        row(label, *values)
    for label, value in r["differences"].items():
        lines.append(f"| &nbsp;&nbsp;{label} | {value:,} | | | |")
    for k, values in r["energy_per_step_pJ"].items():
        row(f"energy per step, {k} (nJ)", *(v / 1e3 if v is not None else None for v in values),
            fmt="{:,.2f}")
    lat = r["latency_per_step_us"]
    for k in ("SANA-FE detailed", "SANA-FE simple"):
        row(f"latency per step (us), against {k}", lat["chipsim"], lat[k], fmt="{:.2f}")
    row("latency per step (us), chipsim's counts in SANA-FE's simple formula",
        lat["chipsim counts, SANA-FE's simple formula"], lat["SANA-FE simple"], fmt="{:.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dvs-steps", type=int, default=128)
    parser.add_argument("--digits-samples", type=int, default=20)
    parser.add_argument("--digits-steps", type=int, default=16)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("sanafe") is None:
        print("bench/sanafe_crosscheck.py needs SANA-FE: pip install 'chipsim[sanafe]'",
              file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="chipsim-sanafe-") as folder:
        folder = Path(folder)
        for name, build in (("dvs", lambda: dvs_simulation(folder, args.dvs_steps)),
                            ("digits", lambda: digits_simulation(
                                folder, args.digits_samples, args.digits_steps))):
            result = compare(name, *build())
            results.append(result)
            print(render(result), "\n", flush=True)
    write_text(RESULTS, json.dumps({"networks": results}, indent=1) + "\n")
    write_text(RESULTS.with_suffix(".md"), "\n\n".join(render(r) for r in results) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)} and its .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
