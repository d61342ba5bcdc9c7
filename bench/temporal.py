"""Recurrent against feed-forward, OTTT against BPTT, on the delayed XOR task (float64).

examples/delayed_xor.yaml (two cues 10 steps apart, tau 8, 64 hidden units, 40 epochs) with
and without `recurrent: true` on its hidden layer, trained by OTTT_A (lr 0.5, the example's)
and by BPTT (lr 0.02), seeds 0-2: the test accuracy after the last epoch. Chance is 50 %.
About a minute.

Writes bench/results/temporal.json and .md (the README's row is rendered from the json by
bench/readme_numbers.py).

Run: python bench/temporal.py [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chipsim.report.writer import write_text  # noqa: E402
from chipsim.simulation import Simulation  # noqa: E402

CONFIG = ROOT / "examples" / "delayed_xor.yaml"
RESULTS = ROOT / "bench" / "results" / "temporal.json"
# BPTT at OTTT's lr 0.5 diverges through the recurrence (seeds 0-2: 51.5, 69.0, 48.0 %);
# at 0.02 it learns the task
BPTT = ["learning.rule=bptt", "learning.optimizer.lr=0.02"]
RUNS = {"recurrent, OTTT_A": [], "feed-forward, OTTT_A": ["network.layers.0.recurrent=false"],
        "recurrent, BPTT": BPTT,
        "feed-forward, BPTT": BPTT + ["network.layers.0.recurrent=false"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    rows = []
    for label, overrides in RUNS.items():
        accuracies = []
        for seed in args.seeds:
            sim = Simulation(CONFIG, overrides=[*overrides, f"seed={seed}", "output.plots=false"])
            sim.train()
            accuracies.append(sim.epochs[-1]["test_accuracy"])
        rows.append({"run": label, "overrides": overrides, "seeds": args.seeds,
                     "accuracy": accuracies, "mean": float(np.mean(accuracies))})
        print(f"{label}: {', '.join(f'{100 * a:.1f} %' for a in accuracies)}", flush=True)
    table = ["| delayed XOR (float64, tau 8, delay 10; lr 0.5 OTTT, 0.02 BPTT) | seeds | "
             "test accuracy, mean | per seed |",
             "|---|---|---:|---|"]
    table += [f"| {r['run']} | {', '.join(map(str, r['seeds']))} | {100 * r['mean']:.1f} % | "
              + ", ".join(f"{100 * a:.1f} %" for a in r["accuracy"]) + " |" for r in rows]
    write_text(RESULTS, json.dumps({"config": str(CONFIG.relative_to(ROOT)), "chance": 0.5,
                                    "rows": rows}, indent=1) + "\n")
    write_text(RESULTS.with_suffix(".md"), "\n".join(table) + "\n")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
