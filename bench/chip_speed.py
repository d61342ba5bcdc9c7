"""Speed of the chip simulator against baselines measured in the same process.

1. Inference: a 784-1024-10 LIF network, T = 100, 32 samples, Bernoulli input spikes at rate
   0.1, 8-bit integer weights. Synaptic events per second of
   - the chip's inference kernel (event driven, counters included, samples in parallel),
   - a bare numba event-driven kernel doing the same integer arithmetic without counters,
   - a dense numpy float32 matmul simulation of the same network.
2. On-chip learning: OTTT_O (and OTTT_A) on the digits net (64-128-10, T = 6) in samples per
   second, single thread, beside the float64 reference in the same run.

Run: python bench/chip_speed.py [--repeat N]. Prints a Markdown table; ratios are against the
bare kernel measured in this run, so they hold across machines better than absolute rates.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numba as nb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chipsim.chip import counters as ev, kernels  # noqa: E402
from chipsim.config import validate_config  # noqa: E402
from chipsim.data import Dataset, load_dataset  # noqa: E402
from chipsim.data.encoders import encode  # noqa: E402
from chipsim.runner import make_model, network_from_config  # noqa: E402


def best_of(fn, repeat):
    """Smallest wall time of ``repeat`` calls (the first call compiles and is not timed)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@nb.njit(parallel=True, cache=True)
def bare_lif_kernel(w1, w2, spikes, thr1, lam_shift):
    """The same integer LIF arithmetic as the chip, no counters, no recording.

    w1: (784, 1024) int64 rows per axon; w2: (1024, 10); spikes: (N, T, 784) uint8.
    Leak by a shift (lambda = 0.5, half up), soft reset, read-out summed over time.
    """
    n, steps, n_in = spikes.shape
    hid, out = w1.shape[1], w2.shape[1]
    preds = np.zeros(n, np.int64)
    for k in nb.prange(n):
        v = np.zeros(hid, np.int64)
        d = np.zeros(hid, np.int64)
        s = np.zeros(hid, np.int64)
        total = np.zeros(out, np.int64)
        for t in range(steps):
            d[:] = 0
            for j in range(n_in):
                if spikes[k, t, j]:
                    for i in range(hid):
                        d[i] += w1[j, i]
            for i in range(hid):
                u = ((v[i] + (1 << (lam_shift - 1))) >> lam_shift) + d[i]
                if u >= thr1:
                    s[i] = 1
                    v[i] = u - thr1
                else:
                    s[i] = 0
                    v[i] = u
            for j in range(hid):
                if s[j]:
                    for c in range(out):
                        total[c] += w2[j, c]
        preds[k] = np.argmax(total)
    return preds


def dense_float32(w1, w2, spikes, thr):
    """Dense numpy float32: every step a full matmul, whatever the activity."""
    x = spikes.astype(np.float32)
    w1f, w2f = w1.astype(np.float32), w2.astype(np.float32)
    v = np.zeros((x.shape[0], w1.shape[1]), np.float32)
    total = np.zeros((x.shape[0], w2.shape[1]), np.float32)
    for t in range(x.shape[1]):
        u = 0.5 * v + x[:, t] @ w1f
        s = (u >= thr).astype(np.float32)
        v = u - thr * s
        total += s @ w2f
    return total.argmax(axis=1)


def inference_bench(repeat: int) -> list[tuple]:
    rng = np.random.default_rng(0)
    n, steps, n_in = 32, 100, 784
    spikes = (rng.random((n, steps, n_in)) < 0.1).astype(np.float64)
    y = np.zeros(n, np.int64)
    data = Dataset("bench", spikes, y, spikes, y, 10)
    cfg = validate_config({
        "data": {"source": "npz", "path": "unused.npz", "timesteps": steps},
        "network": {"layers": [{"name": "hid", "units": 1024},
                               {"name": "out", "units": 10, "neuron": "readout"}],
                    "init": {"gain": 3.0}},
        "learning": {"rule": "none"},
        "chip": {"arithmetic": "fixed", "weight_headroom": 1.0},
    })
    chip = make_model(cfg, network_from_config(cfg, data), data)
    m = chip.memories
    xq = chip.payloads(spikes)
    empty = np.zeros((0, 0, 0), np.uint8), np.zeros((0, 0, 0), np.int64)
    counts = np.zeros_like(chip.registers.counters)

    def run_chip():
        preds, counts[:], _ = kernels.infer_batch(m, xq, *empty, nb.get_num_threads())
        return preds

    preds_chip = run_chip()
    events = int(counts[:, ev.SYNAPTIC_OPS].sum())
    hidden_spikes = int(counts[0, ev.SPIKES].sum())
    w1 = m.weights[:784 * 1024].reshape(784, 1024).copy()
    w2 = m.weights[784 * 1024:].reshape(1024, 10).copy()
    spikes_u8 = spikes.astype(np.uint8)
    thr = int(m.threshold[0])
    preds_bare = bare_lif_kernel(w1, w2, spikes_u8, thr, 1)
    assert np.array_equal(preds_bare, preds_chip), "bare kernel must compute the same network"
    t_chip = best_of(run_chip, repeat)
    t_bare = best_of(lambda: bare_lif_kernel(w1, w2, spikes_u8, thr, 1), repeat)
    t_dense = best_of(lambda: dense_float32(w1, w2, spikes, thr), max(1, repeat // 2))
    rate = hidden_spikes / (n * steps * 1024)
    rows = [("bare numba event-driven kernel (no counters)", events / t_bare, 1.0),
            ("chip inference kernel (counters included)", events / t_chip, t_bare / t_chip),
            ("dense numpy float32 matmul", events / t_dense, t_bare / t_dense)]
    print(f"inference: {n} samples x T = {steps}, 784-1024-10, input rate 0.1, hidden rate "
          f"{rate:.3f}, {events:.3g} synaptic events, {nb.get_num_threads()} threads")
    return rows


def training_bench(repeat: int) -> list[tuple]:
    rows = []
    base = {"network": {"layers": [{"name": "fc1", "units": 128},
                                   {"name": "out", "units": 10, "neuron": "readout"}]},
            "learning": {"optimizer": {"lr": 0.5}}}
    nb.set_num_threads(1)
    data = None
    for label, learning, arithmetic in [
            ("chip OTTT_O (8-bit, stochastic rounding)", {"variant": "O", "batch_size": 1}, "fixed"),
            ("chip OTTT_A (batch 8)", {"variant": "A", "batch_size": 8}, "fixed"),
            ("float64 reference OTTT_O", {"variant": "O", "batch_size": 1}, "float64"),
            ("float64 reference OTTT_A (batch 8)", {"variant": "A", "batch_size": 8}, "float64")]:
        raw = {**base, "learning": {**base["learning"], **learning},
               "chip": {"arithmetic": arithmetic}}
        cfg = validate_config(raw)
        data = data or load_dataset(cfg.data, 0)
        bs = cfg.learning.batch_size
        x = encode(data.x_train, 6, "direct", None)
        y = data.y_train

        def epoch():
            model = make_model(cfg, network_from_config(cfg, data), data)
            t0 = time.perf_counter()
            for start in range(0, len(y), bs):
                model.train_batch(x[start:start + bs], y[start:start + bs])
            return time.perf_counter() - t0

        epoch()  # compile
        t = min(epoch() for _ in range(repeat))
        rows.append((label, len(y) / t))
    nb.set_num_threads(os.cpu_count() or 1)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    inf = inference_bench(args.repeat)
    print("\n| inference path | synaptic events / s | ratio to bare kernel |\n|---|---:|---:|")
    for label, rate, ratio in inf:
        print(f"| {label} | {rate:.3g} | {ratio:.2f} |")
    train = training_bench(args.repeat)
    print("\n| on-chip learning, digits 64-128-10, T = 6, 1 thread | samples / s |\n|---|---:|")
    for label, rate in train:
        print(f"| {label} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
