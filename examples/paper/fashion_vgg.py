"""Accuracy and energy of a small VGG-style network on Fashion-MNIST: OTTT_A, OTTT_O and BPTT
in float64, and OTTT on the chip at 8 bits (examples/fashion_vgg_ottt.yaml).

Run:  python examples/paper/fashion_vgg.py [--seeds 0 1 2] [--epochs N] [--runs A O BPTT chip]
Writes runs/paper/fashion_vgg/{summary.md, accuracy.png} and a run directory per run (a run
whose directory already holds a report of the same config is reused, not rerun); the energy table comes from the chip runs' reports (loihi2018 and horowitz45). Needs Debian's
dataset-fashion-mnist package. Long: roughly 5-10 minutes per float64 epoch and per chip
epoch on 2 cores (the summary records the measured times).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chipsim.config import load_config  # noqa: E402
from chipsim.report.writer import write_figure, write_text  # noqa: E402
from chipsim.runner import run  # noqa: E402

CONFIG = ROOT / "examples" / "fashion_vgg_ottt.yaml"
RUNS = {"A": ["chip.arithmetic=float64", "learning.variant=A"],
        "O": ["chip.arithmetic=float64", "learning.variant=O"],
        "BPTT": ["chip.arithmetic=float64", "learning.rule=bptt"],
        "chip": ["chip.arithmetic=fixed", "learning.variant=A"]}
LABELS = {"A": "float64 OTTT_A", "O": "float64 OTTT_O", "BPTT": "float64 BPTT",
          "chip": "chip OTTT_A, 8-bit, stochastic rounding"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: the config's learning.epochs")
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default=str(ROOT / "runs" / "paper" / "fashion_vgg"))
    parser.add_argument("--finished-only", action="store_true",
                        help="run nothing: summarize the runs already finished in --out")
    args = parser.parse_args()
    out = Path(args.out)
    results = {}
    for name in args.runs:
        for seed in args.seeds:
            sets = RUNS[name] + [f"seed={seed}", *args.set] + (
                [f"learning.epochs={args.epochs}"] if args.epochs else [])
            config, run_dir = load_config(CONFIG, sets), out / f"{name}_seed{seed}"
            report = finished(run_dir, config)
            if report is None and args.finished_only:
                continue
            if report is None:
                report = run(config, "fashion_vgg", run_dir, echo=lambda *a: None,
                             show_progress=False, overwrite=True)  # an unfinished earlier one
            results.setdefault(name, []).append((report, report["seconds"], seed))
            print(f"{LABELS[name]}, seed {seed}: {100 * report['final']['test_accuracy']:.2f} % "
                  f"({report['seconds']:.0f} s)", flush=True)
    epochs = load_config(CONFIG, args.set).learning.epochs if args.epochs is None else args.epochs
    lines = [f"# Small VGG on Fashion-MNIST (14x14, T = 6, {epochs} epochs)", "",
             "| run | seeds | test accuracy (mean) | min | max | minutes per run |",
             "|---|---|---:|---:|---:|---:|"]
    for name, items in results.items():
        acc = [100 * r["final"]["test_accuracy"] for r, _, _ in items]
        minutes = np.mean([s for _, s, _ in items]) / 60
        seeds = ", ".join(str(seed) for _, _, seed in items)
        lines.append(f"| {LABELS[name]} | {seeds} | {np.mean(acc):.2f} % | {min(acc):.2f} % | "
                     f"{max(acc):.2f} % | {minutes:.1f} |")
    if "chip" in results:
        costs = results["chip"][0][0]["costs"]
        lines += ["", f"Energy of the chip run (seed {results['chip'][0][2]}):", "",
                  "| table | per inference | per training sample |", "|---|---:|---:|"]
        for table in costs["energy_tables"]:
            lines.append(f"| {table} | {costs['inference']['energy'][table]['per_sample_pJ'] / 1e6:.2f} uJ"
                         f" | {costs['training']['energy'][table]['per_sample_pJ'] / 1e6:.2f} uJ |")
        lines.append(f"\nCores used: {costs['placement']['cores_used']}.")
    write_text(out / "summary.md", "\n".join(lines) + "\n")
    plot(results, out / "accuracy.png")
    print("\n".join(lines))
    write_text(out / "results.json", json.dumps({k: [r["final"] for r, _, _ in v]
                                                 for k, v in results.items()}, indent=1))


def finished(run_dir: Path, config) -> dict | None:
    """The report of an earlier run of this config in run_dir (reused, so a long study can be
    interrupted and rerun with more seeds or runs), else None. Settings that do not change
    results are not compared: output (plots, the folder) and, in float64, the chip's."""
    try:
        report = json.loads((run_dir / "report.json").read_text())
    except (OSError, ValueError):
        return None
    return (report if report.get("complete", True)
            and result_settings(report.get("config", {})) == result_settings(
                config.model_dump(mode="json")) else None)


def result_settings(config: dict) -> dict:
    """The parts of a resolved config (as JSON) that the results depend on."""
    kept = {k: v for k, v in config.items() if k != "output"}
    if kept.get("chip", {}).get("arithmetic") == "float64":
        kept["chip"] = {"arithmetic": "float64"}
    return kept


def plot(results, path):
    """Test accuracy per epoch of each run type: the mean over its seeds, and the min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for i, (name, items) in enumerate(results.items()):
        curves = [[100 * e["test_accuracy"] for e in report["epochs"][1:]]  # epoch 0: ~10 %
                  for report, _, _ in items]
        length = min(len(c) for c in curves)
        acc = np.array([c[:length] for c in curves])
        x = np.arange(1, length + 1)
        ax.plot(x, acc.mean(axis=0), "o-", ms=3, color=f"C{i}",
                label=f"{LABELS[name]} (mean of {len(curves)} seed{'s' * (len(curves) > 1)})")
        if len(curves) > 1:
            ax.fill_between(x, acc.min(axis=0), acc.max(axis=0), color=f"C{i}", alpha=0.18,
                            lw=0)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("small VGG on Fashion-MNIST 14x14, T = 6 (bands: min-max over seeds;\n"
                 "y axis zoomed on the trained range, epoch 0 at ~10 % left out)", fontsize=8)
    write_figure(path, fig)


if __name__ == "__main__":
    main()
