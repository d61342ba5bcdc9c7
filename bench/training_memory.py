"""Training memory of the simulator against the number of time steps T.

For each T, a fresh process trains on 256 digits samples (64-128-10) and reports its peak
resident set size and the peak of numpy/Python allocations during training (tracemalloc),
with the input batches encoded (and, for the chip, converted to payloads) beforehand, so the
traced figure is what learning itself allocates.
OTTT keeps registers only, so both stay flat in T; BPTT keeps every step of the batch for its
backward pass and grows linearly.

Run: python bench/training_memory.py [--steps 4 8 16 32 64]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, tracemalloc
sys.path.insert(0, {root!r})
from chipsim.config import validate_config
from chipsim.data import load_dataset
from chipsim.data.encoders import encode
from chipsim.runner import make_model, network_from_config
steps, arithmetic, rule, variant, batch = {args!r}
cfg = validate_config({{
    "data": {{"timesteps": steps}},
    "network": {{"layers": [{{"name": "fc1", "units": 128}},
                            {{"name": "out", "units": 10, "neuron": "readout"}}]}},
    "learning": {{"rule": rule, "variant": variant, "batch_size": batch,
                  "optimizer": {{"lr": 0.5}}}},
    "chip": {{"arithmetic": arithmetic}}}})
data = load_dataset(cfg.data, 0)
model = make_model(cfg, network_from_config(cfg, data), data)
x, y = data.x_train[:256], data.y_train[:256]
chip = hasattr(model, "train_payloads")
batches = []
for start in range(0, len(y), batch):
    xb = encode(x[start:start + batch], steps, "direct", None)
    batches.append((model.payloads(xb) if chip else xb, y[start:start + batch]))
train = model.train_payloads if chip else model.train_batch
train(*batches[0])  # compile, warm up
tracemalloc.start()
for xb, yb in batches:
    train(xb, yb)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({{"rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   "traced_peak_bytes": peak}}))
"""

MODELS = [("chip OTTT_A", "fixed", "ottt", "A", 16), ("chip OTTT_O", "fixed", "ottt", "O", 1),
          ("float64 OTTT_A", "float64", "ottt", "A", 16),
          ("float64 BPTT", "float64", "bptt", "A", 16)]


def measure(steps, arithmetic, rule, variant, batch) -> dict:
    code = CHILD.format(root=str(ROOT), args=(steps, arithmetic, rule, variant, batch))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    args = parser.parse_args()
    results = {label: {t: measure(t, *spec) for t in args.steps} for label, *spec in MODELS}
    first, last = args.steps[0], args.steps[-1]
    print("| model (batch) | " + " | ".join(f"T={t}" for t in args.steps)
          + f" | T={last} / T={first} |")
    print("|---|" + "---:|" * (len(args.steps) + 1))
    for label, per_t in results.items():
        for key, unit, scale in (("rss_kib", "peak RSS MiB", 1024), ("traced_peak_bytes", "traced KiB", 1024)):
            cells = [f"{per_t[t][key] / scale:,.1f}" for t in args.steps]
            ratio = per_t[last][key] / per_t[first][key]
            print(f"| {label}, {unit} | " + " | ".join(cells) + f" | {ratio:.2f} |")


if __name__ == "__main__":
    main()
