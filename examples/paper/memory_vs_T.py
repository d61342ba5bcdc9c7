"""Training memory against the number of time steps: OTTT flat, BPTT linear (measured).

For every T, fresh processes train the float64 OTTT_A and BPTT references (and OTTT_A on the
chip) on 256 samples (``chipsim.memory_probe``) and report the peak of what learning
allocates (tracemalloc) and the peak RSS. Beside it, the chip's memory model: OTTT's training
state on the mapped network against what BPTT would need (costs.memory).

Run:  python examples/paper/memory_vs_T.py [--config NET.yaml] [--steps 4 8 16 32 64 128]
Writes runs/paper/memory_vs_T/{memory_vs_T.png, summary.md}. About 2 minutes (digits net).
The long-T run on the temporal task, with its recurrent layer:
--config examples/delayed_xor.yaml --steps 32 64 128 256 512 1000 (about 4 minutes).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chipsim.config import load_config  # noqa: E402
from chipsim.data import load_dataset  # noqa: E402
from chipsim.memory_probe import measure  # noqa: E402
from chipsim.report.costs import memory  # noqa: E402
from chipsim.report.writer import write_figure, write_text  # noqa: E402
from chipsim.build import network_from_config, place_on_chip  # noqa: E402

RUNS = [("float64 OTTT_A", {"chip": {"arithmetic": "float64"}}),
        ("float64 BPTT", {"chip": {"arithmetic": "float64"}, "learning": {"rule": "bptt"}}),
        ("chip OTTT_A", {"chip": {"arithmetic": "fixed"}})]


def merged(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "examples" / "digits_ottt.yaml"))
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--out", default=str(ROOT / "runs" / "paper" / "memory_vs_T"))
    args = parser.parse_args()
    started = time.perf_counter()
    base = yaml.safe_load(Path(args.config).read_text())
    config = load_config(args.config, ["chip.arithmetic=float64"])
    data = load_dataset(config.data, config.seed)
    network = network_from_config(config, data)
    runs = RUNS
    measured = {label: {} for label, _ in runs}
    for t in args.steps:
        for label, extra in runs:
            raw = merged(merged(base, extra), {"data": {"timesteps": t},
                                               "learning": {"batch_size": 16}})
            measured[label][t] = measure(raw, args.samples)
        print(f"T = {t}: " + ", ".join(f"{k} {v[t]['traced_peak_bytes'] / 1024:,.0f} KiB"
                                       for k, v in measured.items()), flush=True)
    rows = chip_model(args.config, args.steps)
    sizes = "-".join(str(n) for n in [network.n_inputs] + [l.n_out for l in network.synaptic])
    net = (f"{config.data.source} {sizes} ({Path(args.config).name}"
           + (f"; {', '.join(network.recurrent)} recurrent" if network.recurrent else "") + ")")
    out = Path(args.out)
    plot(args.steps, measured, rows, out / "memory_vs_T.png", args.samples, net)
    first, last = args.steps[0], args.steps[-1]
    lines = [f"# Training memory against T ({Path(args.config).name})", "",
             "Measured: peak of what learning allocates (tracemalloc, KiB) and peak RSS (MiB), "
             f"{args.samples} samples, batch 16, one fresh process per cell.", "",
             "| run | " + " | ".join(f"T={t}" for t in args.steps) + f" | T={last} / T={first} |",
             "|---|" + "---:|" * (len(args.steps) + 1)]
    for label, per_t in measured.items():
        for key, unit, scale in (("traced_peak_bytes", "KiB allocated", 1024),
                                 ("rss_kib", "MiB RSS", 1024)):
            cells = [f"{per_t[t][key] / scale:,.1f}" for t in args.steps]
            lines.append(f"| {label}, {unit} | " + " | ".join(cells)
                         + f" | {per_t[last][key] / per_t[first][key]:.2f} |")
    lines += ["", "The chip's memory model (training state beyond the weights, bits):", "",
              "| T | OTTT_A | BPTT | BPTT / OTTT |", "|---:|---:|---:|---:|"]
    lines += [f"| {t} | {rows[t]['ottt_state_bits']:,} | {rows[t]['bptt_state_bits']:,} | "
              f"{rows[t]['state_ratio']:.2f} |" for t in args.steps]
    lines += ["", f"Run time {time.perf_counter() - started:.0f} s."]
    write_text(out / "summary.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def chip_model(config_path, steps) -> dict:
    """{T: the chip's OTTT-against-BPTT memory row} for the network placed on the chip."""
    from chipsim.build import make_model

    config = load_config(config_path, ["chip.arithmetic=fixed"])
    data = load_dataset(config.data, config.seed)
    network = network_from_config(config, data)
    placement = place_on_chip(config, network, make_model(config, network, data).rule)
    bits = config.chip.bits
    model = {t: memory(placement, weight_bits=bits.weight, membrane_bits=bits.membrane,
                       error_bits=bits.error, accumulator_bits=bits.accumulator,
                       input_bits=bits.input, n_inputs=network.n_inputs, timesteps=t)
             ["ottt_vs_bptt"] for t in steps}
    return {t: next(r for r in model[t] if r["T"] == t) for t in steps}


def plot(steps, measured, rows, path, samples, net):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained", squeeze=False)
    a = axes[0, 0]
    for label, per_t in measured.items():
        a.plot(steps, [per_t[t]["traced_peak_bytes"] / 1024 for t in steps], "o-", label=label)
    a.set_title("measured: peak allocated while learning (tracemalloc)", fontsize=9)
    a.set_ylabel("memory (KiB, log scale)")
    a.set_yscale("log")  # OTTT's flat lines sit 2-3 decades below BPTT's
    top = max(per_t[t]["traced_peak_bytes"] / 1024 for per_t in measured.values() for t in steps)
    a.set_ylim(top=top * 30)  # room for the legend above the lines
    b = axes[0, 1]
    b.plot(steps, [rows[t]["ottt_state_bits"] / 8192 for t in steps], "o-", label="OTTT_A")
    b.plot(steps, [rows[t]["bptt_state_bits"] / 8192 for t in steps], "s-", label="BPTT")
    b.set_title("chip memory model: training state beyond the weights", fontsize=9)
    b.set_ylabel("memory (KiB)")
    chip = "chip: 8-bit weights, 24-bit accumulators"
    fig.suptitle(f"{net}, batch 16, {samples} samples,\none fresh process per point; {chip}",
                 fontsize=8)
    ticks = [steps[0]]  # linear axis (BPTT's line): ticks that do not overlap
    for t in steps[1:]:
        if t - ticks[-1] >= (steps[-1] - steps[0]) / 12:
            ticks.append(t)
    b.set_ylim(0, max(rows[t]["bptt_state_bits"] for t in steps) / 8192 * 1.25)
    for ax in axes[0]:
        ax.set_xticks(ticks)
        ax.set_xlabel("time steps T")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    write_figure(path, fig)


if __name__ == "__main__":
    main()
