"""Digits accuracy on chip against weight width and rounding mode, beside the float64 run.

Runs examples/digits_ottt.yaml (OTTT_A, 64-128-10, T = 6) for every weight width x rounding
mode and seed, and the float64 reference for the same seeds; prints a Markdown table of mean
test accuracy and spread (min-max over seeds), and writes the numbers to
bench/results/quantization.json (the README's rows are rendered from it by
bench/readme_numbers.py; every run is deterministic for its seed). Other widths stay at the
example's values.

Run: python bench/quantization.py [--bits 4 8 16] [--seeds 0 1 2] [--epochs 15]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chipsim.config import load_config  # noqa: E402
from chipsim.report.writer import write_text  # noqa: E402
from chipsim.runner import run  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "quantization.json"


def accuracy(overrides: list[str], out: Path) -> float:
    config = load_config(ROOT / "examples" / "digits_ottt.yaml", overrides)
    report = run(config, "digits_ottt", out, echo=lambda *a: None, show_progress=False,
                 overwrite=True)
    return report["final"]["test_accuracy"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--rounding", nargs="+", default=["stochastic", "nearest", "floor"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "quantization"))
    parser.add_argument("--results", default=str(RESULTS), help="where the numbers go (json)")
    args = parser.parse_args()
    out = Path(args.out)
    rows = []

    def cell(overrides):
        accs = [accuracy(overrides + [f"seed={s}", f"learning.epochs={args.epochs}"],
                         out / "_".join(o.replace("=", "-") for o in overrides + [str(s)]))
                for s in args.seeds]
        return 100 * np.mean(accs), 100 * np.min(accs), 100 * np.max(accs)

    rows.append(("float64 reference", "-", *cell(["chip.arithmetic=float64"])))
    for bits in args.bits:
        for rounding in args.rounding:
            rows.append((f"chip, {bits}-bit weights", rounding,
                         *cell([f"chip.bits.weight={bits}", f"chip.rounding={rounding}"])))
            print(f"done: {bits} bits, {rounding}", file=sys.stderr)
    numbers = {"epochs": args.epochs, "seeds": args.seeds,
               "rows": [dict(zip(("arithmetic", "rounding", "mean", "min", "max"), row))
                        for row in rows]}
    write_text(Path(args.results), json.dumps(numbers, indent=1))
    print(f"digits, OTTT_A, 64-128-10, T = 6, {args.epochs} epochs, seeds {args.seeds}\n")
    print("| arithmetic | rounding | test accuracy (mean) | min | max |\n|---|---|---:|---:|---:|")
    for label, rounding, mean, lo, hi in rows:
        print(f"| {label} | {rounding} | {mean:.2f} % | {lo:.2f} % | {hi:.2f} % |")


if __name__ == "__main__":
    main()
