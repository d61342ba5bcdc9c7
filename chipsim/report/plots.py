"""Plots of a run, drawn from the report dict alone (so they can be redrawn later)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

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


def energy_breakdown(costs: dict, path) -> None:
    """Energy per sample by event type (headline table), inference and training."""
    table = costs["primary_energy_table"]
    parts = [p for p in ("inference", "training") if p in costs]
    events = [e for e in costs["energy_tables"][table]
              if any(costs[p]["energy"][table]["by_event_pJ"][e] for p in parts)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(parts)
    for k, part in enumerate(parts):
        e = costs[part]["energy"][table]
        values = [e["by_event_pJ"][ev] / costs[part]["samples"] / 1e3 for ev in events]
        ax.barh([i + k * width for i in range(len(events))], values, height=width, label=part)
    ax.set_yticks([i + width * (len(parts) - 1) / 2 for i in range(len(events))], events,
                  fontsize=7)
    ax.set_xlabel(f"nJ per sample ({table})")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    write_figure(path, fig)


def memory_per_core(costs: dict, path) -> None:
    """Synapse SRAM use per core, stacked by kind, against the core's capacity."""
    rows = costs["memory"]["per_core"]
    kinds = ["sram_weights", "sram_accumulators", "sram_feedback", "sram_transposed_copy"]
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(rows) + 2), 3.2))
    bottom = [0.0] * len(rows)
    for kind in kinds:
        values = [100 * r[kind] / r["sram_available"] for r in rows]
        if any(values):
            ax.bar(range(len(rows)), values, bottom=bottom, label=kind.removeprefix("sram_"))
            bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(range(len(rows)), [f"{r['core']}\n{r['layer']}" for r in rows], fontsize=7)
    ax.set_ylabel("synapse SRAM used (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    write_figure(path, fig)


def cycles_per_phase(costs: dict, path) -> None:
    """Mean cycles per time step of every core, stacked by phase."""
    parts = [p for p in ("inference", "training") if p in costs]
    fig, axes = plt.subplots(1, len(parts), figsize=(4 * len(parts), 3.2), squeeze=False)
    for ax, part in zip(axes[0], parts):
        c = costs[part]["cycles"]
        cores = list(c["per_core_per_phase"])
        bottom = [0.0] * len(cores)
        for phase in next(iter(c["per_core_per_phase"].values())):
            values = [c["per_core_per_phase"][k][phase] / c["steps"] for k in cores]
            ax.bar(cores, values, bottom=bottom, label=phase)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_title(part, fontsize=9)
        ax.set_xlabel("core")
        ax.set_ylabel("cycles per time step")
        ax.legend(fontsize=7)
    write_figure(path, fig)


def memory_vs_timesteps(costs: dict, path) -> None:
    """Training memory beyond the weights: OTTT flat, BPTT linear in T."""
    rows = costs["memory"]["ottt_vs_bptt"]
    t = [r["T"] for r in rows]
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(t, [r["ottt_state_bits"] / 8192 for r in rows], "o-", label="OTTT (this rule)")
    ax.plot(t, [r["bptt_state_bits"] / 8192 for r in rows], "s-", label="BPTT")
    ax.set_xlabel("time steps T")
    ax.set_ylabel("training memory beyond weights (KiB)")
    ax.set_xscale("log", base=2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    write_figure(path, fig)


def spike_raster(spikes: dict, path) -> None:
    """Spikes of one test sample: {layer: (T, units) 0/1}."""
    fig, axes = plt.subplots(1, len(spikes), figsize=(3.2 * len(spikes), 3), squeeze=False)
    for ax, (name, s) in zip(axes[0], spikes.items()):
        t, n = s.nonzero()
        ax.scatter(t, n, s=4, marker="|")
        ax.set_xlim(-0.5, s.shape[0] - 0.5)
        ax.set_ylim(-0.5, s.shape[1] - 0.5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("time step")
        ax.set_ylabel("neuron")
    write_figure(path, fig)
