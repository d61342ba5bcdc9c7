"""Measure the simulator's own training memory, one fresh process per measurement.

``measure(raw_config, samples)`` trains on ``samples`` examples of the config's data in a
child process and returns its peak resident set size (KiB) and the peak of numpy/Python
allocations while learning (tracemalloc, bytes). Inputs are encoded (and, on chip, converted
to payloads) before tracing starts, so the traced figure is what learning itself keeps:
flat in T for OTTT, linear in T for BPTT.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, tracemalloc
sys.path.insert(0, {root!r})
from chipsim.config import validate_config
from chipsim.data import load_dataset
from chipsim.data.encoders import encode
from chipsim.build import make_model, network_from_config
raw, samples = json.loads({raw!r}), {samples!r}
cfg = validate_config(raw)
data = load_dataset(cfg.data, cfg.seed)
model = make_model(cfg, network_from_config(cfg, data), data)
steps, batch = cfg.data.timesteps, cfg.learning.batch_size
x, y = data.x_train[:samples], data.y_train[:samples]
chip = hasattr(model, "train_payloads")
batches = []
for start in range(0, len(y), batch):
    xb = encode(x[start:start + batch], steps, cfg.data.encoding, None)
    batches.append((model.payloads(xb) if chip else xb, y[start:start + batch]))
train = model.train_payloads if chip else model.train_batch
train(*batches[0])  # compile and warm up
tracemalloc.start()
for xb, yb in batches:
    train(xb, yb)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({{"rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   "traced_peak_bytes": peak}}))
"""


def measure(raw_config: dict, samples: int = 256) -> dict:
    """{'rss_kib': ..., 'traced_peak_bytes': ...} of training in a fresh process."""
    root = str(Path(__file__).resolve().parents[1])
    code = CHILD.format(root=root, raw=json.dumps(raw_config), samples=samples)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"memory probe failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
