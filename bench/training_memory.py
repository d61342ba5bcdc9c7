"""Training memory of the simulator against the number of time steps T.

For each T, a fresh process trains on 256 digits samples (64-128-10) and reports its peak
resident set size and the peak of numpy/Python allocations during learning
(``chipsim.memory_probe``). OTTT keeps registers only, so both stay flat in T; BPTT keeps
every step of the batch for its backward pass and grows linearly.

Then the same through the CLI, as a user runs it: the peak RSS of the whole
``python -m chipsim run examples/digits_ottt.yaml`` process (1 epoch, chip OTTT_A and O) at
each T, after one untimed run that fills numba's cache (compiling takes more memory than
anything the run does).

Prints the tables and writes the numbers to bench/results/training_memory.json (the README's
row is rendered from it by bench/readme_numbers.py).

Run: python bench/training_memory.py [--steps 4 8 16 32 64]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chipsim.memory_probe import measure  # noqa: E402
from chipsim.report.writer import write_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "training_memory.json"
# a parent that runs the CLI and prints the peak RSS (KiB) of its only child
PEAK_OF_CHILD = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
                 "stdout=subprocess.DEVNULL); "
                 "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def cli_peak_rss_kib(steps: int, variant: str, batch: int) -> int:
    with tempfile.TemporaryDirectory(prefix="chipsim-memory-") as out:
        return _cli_peak_rss_kib(steps, variant, batch, out)


def _cli_peak_rss_kib(steps: int, variant: str, batch: int, out: str) -> int:
    run = [sys.executable, "-m", "chipsim", "run", "examples/digits_ottt.yaml", "--out",
           out, "--set", "learning.epochs=1",
           "--set", f"data.timesteps={steps}", "--set", f"learning.variant={variant}",
           "--set", f"learning.batch_size={batch}", "--set", "output.plots=false"]
    out = subprocess.run([sys.executable, "-c", PEAK_OF_CHILD, *run], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[-1])

NET = {"layers": [{"name": "fc1", "units": 128}, {"name": "out", "units": 10, "neuron": "readout"}]}
MODELS = [("chip OTTT_A", "fixed", "ottt", "A", 16), ("chip OTTT_O", "fixed", "ottt", "O", 1),
          ("float64 OTTT_A", "float64", "ottt", "A", 16),
          ("float64 BPTT", "float64", "bptt", "A", 16)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    args = parser.parse_args()
    results = {}
    for label, arithmetic, rule, variant, batch in MODELS:
        def config(t):
            return {"data": {"timesteps": t}, "network": NET,
                    "learning": {"rule": rule, "variant": variant, "batch_size": batch,
                                 "optimizer": {"lr": 0.5}},
                    "chip": {"arithmetic": arithmetic}}
        measure(config(args.steps[0]))  # fills numba's cache: compiling is not the run's memory
        results[label] = {t: measure(config(t)) for t in args.steps}
    first, last = args.steps[0], args.steps[-1]
    print("| model (batch) | " + " | ".join(f"T={t}" for t in args.steps)
          + f" | T={last} / T={first} |")
    print("|---|" + "---:|" * (len(args.steps) + 1))
    for label, per_t in results.items():
        for key, unit in (("rss_kib", "peak RSS MiB"), ("traced_peak_bytes", "traced KiB")):
            scale = 1024
            cells = [f"{per_t[t][key] / scale:,.1f}" for t in args.steps]
            ratio = per_t[last][key] / per_t[first][key]
            print(f"| {label}, {unit} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    print("\nThrough the CLI (digits, 1 epoch), peak RSS of the process in MiB:\n")
    print("| run (batch) | " + " | ".join(f"T={t}" for t in args.steps)
          + f" | T={last} / T={first} |")
    print("|---|" + "---:|" * (len(args.steps) + 1))
    cli = {}
    for variant, batch in (("A", 8), ("O", 1)):
        cli_peak_rss_kib(first, variant, batch)  # fills numba's cache
        peaks = [cli_peak_rss_kib(t, variant, batch) for t in args.steps]
        cli[f"chip OTTT_{variant}"] = dict(zip(args.steps, peaks))
        print(f"| chip OTTT_{variant} ({batch}) | " + " | ".join(f"{p / 1024:,.1f}" for p in peaks)
              + f" | {peaks[-1] / peaks[0]:.3f} |")
    write_text(RESULTS, json.dumps({"steps": args.steps, "in_process": results,
                                    "cli_peak_rss_kib": cli}, indent=1))


if __name__ == "__main__":
    main()
