"""Plots of a run, drawn from the report dict alone (so they can be redrawn later)."""
import os
import signal
import sys
import threading

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from chipsim.report.energy_tables import width_statement  # noqa: E402
from chipsim.report.writer import write_figure  # noqa: E402


def conditions(report: dict) -> str:
    """One line naming what ran: network, data, T, and on chip the widths and table."""
    d, cfg = report["data"], report["config"]
    shape = "-".join([str(d["n_inputs"])] + [str(l["n_out"]) for l in
                                              report["network"]["layers"]])
    line = (f"{report['name']}: {report['run']['label']}, {shape}, {d['name']}, "
            f"T = {d['timesteps']}, seed {cfg['seed']}")
    if cfg["chip"]["arithmetic"] == "fixed":
        b = cfg["chip"]["bits"]
        line += (f"; weights {b['weight']} bit, membranes {b['membrane']} bit, "
                 f"{cfg['chip']['rounding']} rounding")
    return line


def learning_curve(report: dict, path) -> None:
    """Accuracy (%) and loss per epoch, train (online, while learning) and test; epoch 0 is
    the network before training."""
    epochs = report["epochs"]
    trained = [e for e in epochs if e["train_accuracy"] is not None]
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(8, 3.6), layout="constrained")
    x = [e["epoch"] for e in epochs]
    acc.plot(x, [100 * e["test_accuracy"] for e in epochs], "o-", label="test")
    if trained:  # an inference-only run has no training curve
        acc.plot([e["epoch"] for e in trained], [100 * e["train_accuracy"] for e in trained],
                 "s--", label="train (while learning)")
        acc.legend(fontsize=8, loc="lower right")
    acc.set_ylim(0, 100)
    acc.set_ylabel("accuracy (%)")
    with_loss = [e for e in epochs if e.get("test_loss") is not None]
    loss.plot([e["epoch"] for e in with_loss], [e["test_loss"] for e in with_loss], "o-",
              label="test")
    if trained and trained[0].get("train_loss") is not None:
        loss.plot([e["epoch"] for e in trained], [e["train_loss"] for e in trained], "s--",
                  label="train (while learning)")
        loss.legend(fontsize=8, loc="upper right")
    loss.set_ylim(bottom=0)
    loss.set_ylabel("loss per sample")
    for ax in (acc, loss):
        ax.set_xlabel("epoch (0: before training)")
        ax.grid(alpha=0.3)
        if len(epochs) == 1:
            ax.set_xticks([0])
        else:
            ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(conditions(report) + "\nloss: OTTT's, sum over steps of ((1 - m) CE + m MSE) / T "
                 f"of the output u[t], m = {report['config']['learning']['loss']['mse_weight']}",
                 fontsize=8)
    write_figure(path, fig)


def _label(name: str) -> str:
    """An event or phase name as a reader says it: 'synaptic_ops' -> 'synaptic ops'."""
    return name.replace("_", " ")


def energy_breakdown(report: dict, path) -> None:
    """Energy per sample by event type under the run's table, inference and training."""
    costs = report["costs"]
    table = costs["primary_energy_table"]
    parts = [p for p in ("inference", "training") if p in costs and costs[p]["samples"]]
    per = {p: {e: v / costs[p]["samples"] / 1e3 for e, v in
               costs[p]["energy"][table]["by_event_pJ"].items()} for p in parts}
    events = sorted((e for e in costs["energy_tables"][table] if any(per[p].get(e) for p in parts)),
                    key=lambda e: max(per[p].get(e, 0.0) for p in parts))
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(events) + 1.8), layout="constrained")
    width = 0.8 / len(parts)
    for k, part in enumerate(parts):
        total = costs[part]["energy"][table]["per_sample_pJ"] / 1e3
        what = ("mean over the test samples" if part == "inference"
                else "mean over every sample learned")
        ax.barh([i + k * width for i in range(len(events))], [per[part][e] for e in events],
                height=width, label=f"{part}: {total:,.0f} nJ per sample ({what})")
    ax.set_yticks([i + width * (len(parts) - 1) / 2 for i in range(len(events))],
                  [_label(e) for e in events], fontsize=8)
    ax.set_xlabel(f"energy per sample (nJ), table {table}")
    ax.set_xlim(left=0)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    note = f"\n({width_statement(table)})"
    fig.suptitle(conditions(report) + note, fontsize=8)
    write_figure(path, fig)


MEMORY_KINDS = {"sram_weights": "weights", "sram_accumulators": "accumulators",
                "sram_feedback": "feedback matrix", "sram_transposed_copy": "transposed copy",
                "neuron_state": "neuron state", "trace_registers": "trace registers",
                "routing_table": "routing table"}


def memory_per_core(costs: dict, path, title: str = "") -> None:
    """Memory per layer (KiB, summed over its cores, stacked by kind) and the synapse SRAM
    use of every core on the mesh (a heat map: readable for any number of cores)."""
    rows = costs["memory"]["per_core"]
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    fig, (bars, mesh) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained",
                                     gridspec_kw={"width_ratios": [1.4, 1]})
    bottom = [0.0] * len(layers)
    for kind, name in MEMORY_KINDS.items():
        values = [sum(r[kind] for r in rows if r["layer"] == l) / 8192 for l in layers]
        if any(values):
            bars.bar(range(len(layers)), values, bottom=bottom, label=name)
            bottom = [b + v for b, v in zip(bottom, values)]
    cores = [sum(1 for r in rows if r["layer"] == l) for l in layers]
    bars.set_xticks(range(len(layers)), [f"{l}\n{n} core{'s' * (n > 1)}"
                                         for l, n in zip(layers, cores)],
                    fontsize=7 if len(layers) < 12 else 5, rotation=0 if len(layers) < 8 else 60)
    bars.set_ylabel("memory (KiB)")
    bars.set_title("memory per layer, all its cores", fontsize=9)
    bars.legend(fontsize=7)
    mesh_size = costs.get("placement", {}).get("mesh") or (0, 0)
    width = max(mesh_size[0], max(r["x"] for r in rows) + 1)
    height = max(mesh_size[1], max(r["y"] for r in rows) + 1)
    grid = np.full((height, width), np.nan)
    for r in rows:
        grid[r["y"], r["x"]] = 100 * r["sram_utilization"]
    image = mesh.imshow(grid, vmin=0, vmax=100, cmap="viridis", origin="lower",
                        interpolation="nearest", aspect="auto")
    fig.colorbar(image, ax=mesh, label="synapse SRAM used (%)")
    mesh.set_xlabel("core x")
    mesh.set_ylabel("core y")
    for axis in (mesh.xaxis, mesh.yaxis):
        axis.get_major_locator().set_params(integer=True)
    mesh.set_title(f"the mesh: {len(rows)} of {width * height} cores used (blank: unused)",
                   fontsize=9)
    if title:
        fig.suptitle(title, fontsize=8)
    write_figure(path, fig)


MAX_CORE_BARS = 32  # beyond this, one bar per layer (its slowest core)


def cycles_per_phase(report: dict, path) -> None:
    """Mean cycles per time step, stacked by phase: per core, or per layer's slowest core
    when there are many cores."""
    costs = report["costs"]
    parts = [p for p in ("inference", "training") if p in costs and costs[p]["samples"]]
    core_layer = {str(c): l for l, cs in costs["placement"]["layers"].items() for c in cs}
    fig, axes = plt.subplots(1, len(parts), figsize=(4.2 * len(parts), 3.6), squeeze=False,
                             layout="constrained")
    for ax, part in zip(axes[0], parts):
        c = costs[part]["cycles"]
        per_core = {k: {ph: v / c["steps"] for ph, v in phases.items()}
                    for k, phases in c["per_core_per_phase"].items()}
        if len(per_core) <= MAX_CORE_BARS:
            keys = list(per_core)
            labels = [f"{k}\n{core_layer.get(k, '')}" for k in keys]
            xlabel = "core (layer)"
        else:
            slowest = {}
            for k, phases in per_core.items():
                layer = core_layer.get(k, "?")
                if layer not in slowest or sum(phases.values()) > sum(
                        per_core[slowest[layer]].values()):
                    slowest[layer] = k
            keys, labels, xlabel = list(slowest.values()), list(slowest), "layer (slowest core)"
        bottom = [0.0] * len(keys)
        for phase in next(iter(per_core.values())):
            values = [per_core[k][phase] for k in keys]
            ax.bar(range(len(keys)), values, bottom=bottom, label=_label(phase))
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_xticks(range(len(keys)), labels, fontsize=7)
        step = c["per_step"]
        ax.set_title(f"{part}: a time step takes {step['latency_cycles']:,.0f} cycles "
                     f"(slowest core, routing, barrier)", fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean cycles per time step")
        ax.legend(fontsize=7)
    chip = report["config"]["chip"]
    fig.suptitle(f"{conditions(report)}\nchip preset {chip['preset']}, cycle table at "
                 f"{chip['cycles']['clock_mhz']:g} MHz", fontsize=8)
    write_figure(path, fig)


def memory_vs_timesteps(report: dict, path) -> None:
    """Training memory beyond the weights against T: OTTT flat, BPTT linear in T."""
    rows = report["costs"]["memory"]["ottt_vs_bptt"]
    t = [r["T"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    ax.plot(t, [r["ottt_state_bits"] / 8192 for r in rows], "o-",
            label=f"OTTT ({report['run']['label'].split(' ', 1)[1]})")
    ax.plot(t, [r["bptt_state_bits"] / 8192 for r in rows], "s-",
            label="BPTT (every step's state kept)")
    ax.plot(t, [r["weights_bits"] / 8192 for r in rows], ":", color="gray",
            label="the weights (for scale)")
    ax.set_xlabel("time steps T")
    ax.set_ylabel("training memory beyond the weights (KiB)")
    ax.set_xlim(0, max(t) * 1.05)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(conditions(report).replace("; ", "\n"), fontsize=8)
    write_figure(path, fig)


def spike_raster(spikes: dict, path, title: str = "") -> None:
    """Spikes of one test sample: {layer: (T, units) 0/1}; ``title`` says which sample."""
    fig, axes = plt.subplots(1, len(spikes), figsize=(3.4 * len(spikes) + 0.6, 3.4),
                             squeeze=False, layout="constrained")
    for ax, (name, s) in zip(axes[0], spikes.items()):
        t, n = s.nonzero()
        ax.scatter(t, n, s=6, marker="|")
        ax.set_xlim(-0.5, s.shape[0] - 0.5)
        ax.set_ylim(-0.5, s.shape[1] - 0.5)
        ax.set_title(f"{name}: {len(t)} spikes, {s.shape[1]} neurons", fontsize=8)
        ax.set_xlabel("time step")
        ax.set_ylabel("neuron")
    if title:
        fig.suptitle(title, fontsize=8)
    write_figure(path, fig)


def draw(jobs: list) -> None:
    """Draw figures, jobs [(function, args)]. On Linux, when this process runs no other
    thread, a forked child draws every other job meanwhile (matplotlib holds the GIL: a
    second core helps only from a second process, and a fork starts with matplotlib already
    imported): the figures of a run take about half the time. Whatever the child did not
    finish is drawn here; an exception is raised here, as in a serial loop."""
    mine, theirs = jobs, []
    child = 0
    if len(jobs) > 1 and sys.platform == "linux" and threading.active_count() == 1:
        mine, theirs = jobs[::2], jobs[1::2]
        child = os.fork()
        if child == 0:  # the child: its jobs, then out without the parent's exit handlers
            status = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                for function, args in theirs:
                    function(*args)
                status = 0
            finally:
                os._exit(status)
    try:
        for function, args in mine:
            function(*args)
    finally:
        if child and os.waitpid(child, 0)[1] == 0:
            theirs = []
    for function, args in theirs:  # the child failed (or there was none)
        function(*args)
