"""Gradient alignment: how close OTTT's gradients are to BPTT's while a network trains.

The paper argues that OTTT follows a descent direction similar to BPTT's. This script trains
a network with float64 OTTT (the config's variant) and, every few batches, computes on a fixed
probe batch both the OTTT gradient (summed over the T steps at frozen weights) and the BPTT
gradient (reset detached, as the paper), and their cosine similarity per layer and overall.

Run:  python examples/paper/gradient_alignment.py [--config NET.yaml] [--every 20]
Writes runs/paper/gradient_alignment/{alignment.csv, gradient_alignment.png, summary.md}.
About 5 s for the digits net (the default); 14 s for the recurrent delayed XOR net
(--config examples/delayed_xor.yaml --every 10), where BPTT also carries the error back
through the recurrence and OTTT does not.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chipsim.config import load_config  # noqa: E402
from chipsim.data import load_dataset  # noqa: E402
from chipsim.data.encoders import encode  # noqa: E402
from chipsim.float64 import initial_state, single_threaded_blas, step  # noqa: E402
from chipsim.report.writer import write_text  # noqa: E402
from chipsim.build import make_float_model, network_from_config  # noqa: E402
from chipsim.seeding import stream  # noqa: E402


def batch_gradients(network, params, rule, x, y):
    """A rule's gradients (dW per layer) for one batch at frozen weights."""
    rule.begin(y)
    state = initial_state(network, len(y))
    total = None
    for t in range(x.shape[1]):
        state, record = step(network, params, state, x[:, t])
        grads = rule.step(t, record, params.weights)
        if grads is not None:  # variant O returns every step: sum them at frozen weights
            total = grads[0] if total is None else [a + b for a, b in zip(total, grads[0])]
    end = rule.end(params.weights)
    return end[0] if end is not None else total


def cosine(a, b) -> float:
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "examples" / "digits_ottt.yaml"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--every", type=int, default=20, help="batches between probes")
    parser.add_argument("--probe", type=int, default=64, help="samples in the probe batch")
    parser.add_argument("--out", default=str(ROOT / "runs" / "paper" / "gradient_alignment"))
    args = parser.parse_args()
    started = time.perf_counter()
    config = load_config(args.config, ["chip.arithmetic=float64", *args.set])
    bptt_config = load_config(args.config, ["chip.arithmetic=float64", "learning.rule=bptt",
                                            "learning.variant=A", *args.set])
    data = load_dataset(config.data, config.seed)
    network = network_from_config(config, data)
    model = make_float_model(config, network, None)
    bptt = make_float_model(bptt_config, network, None).rule
    ottt_probe = make_float_model(load_config(args.config, [
        "chip.arithmetic=float64", "learning.variant=A", *args.set]), network, None).rule
    steps, learn = config.data.timesteps, config.learning
    probe_x = encode(data.x_train[:args.probe], steps, config.data.encoding,
                     stream(config.seed, "probe"))
    probe_y = data.y_train[:args.probe]
    names = [layer.name for layer in network.synaptic]
    rows = []

    def probe(epoch, batch):
        g_o = batch_gradients(network, model.params, ottt_probe, probe_x, probe_y)
        g_b = batch_gradients(network, model.params, bptt, probe_x, probe_y)
        row = {"epoch": epoch, "batch": batch, **{n: cosine(a, b) for n, a, b in zip(names, g_o, g_b)},
               "all": cosine(np.concatenate([g.ravel() for g in g_o]),
                             np.concatenate([g.ravel() for g in g_b]))}
        rows.append(row)

    n = len(data.y_train)
    for epoch in range(1, learn.epochs + 1):
        order = stream(config.seed, "order", epoch).permutation(n)
        for b, start in enumerate(range(0, n, learn.batch_size)):
            if b % args.every == 0:
                probe(epoch, b)
            idx = order[start:start + learn.batch_size]
            model.train_batch(encode(data.x_train[idx], steps, config.data.encoding,
                                     stream(config.seed, "encode", epoch, b)), data.y_train[idx])
    probe(learn.epochs + 1, 0)
    out = Path(args.out)
    header = ["epoch", "batch", *names, "all"]
    write_text(out / "alignment.csv", "\n".join([",".join(header)] + [
        ",".join(str(r[h]) for h in header) for r in rows]) + "\n")
    plot(rows, names, out / "gradient_alignment.png",
         f"{Path(args.config).stem}"
         + (f" ({', '.join(network.recurrent)} recurrent)" if network.recurrent else "")
         + f": float64 OTTT_{learn.variant} vs BPTT gradients on a probe "
         f"batch of {args.probe} training samples every {args.every} batches,\nT = {steps}, "
         f"{learn.epochs} epochs, seed {config.seed}; 'all': every parameter as one vector")
    means = {k: float(np.mean([r[k] for r in rows])) for k in names + ["all"]}
    lines = [f"# Gradient alignment: OTTT_{learn.variant} vs BPTT ({Path(args.config).name})", "",
             f"{len(rows)} probes of {args.probe} samples over {learn.epochs} epochs, T = "
             f"{steps}; cosine similarity of the gradients (1 = same direction).", "",
             "| layer | mean | min | at the end |", "|---|---:|---:|---:|"]
    for k in names + ["all"]:
        lines.append(f"| {k} | {means[k]:.3f} | {min(r[k] for r in rows):.3f} | "
                     f"{rows[-1][k]:.3f} |")
    lines += ["", f"Run time {time.perf_counter() - started:.0f} s."]
    write_text(out / "summary.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(rows, names, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from chipsim.report.writer import write_figure

    fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
    x = np.arange(len(rows))
    for k in names + ["all"]:
        ax.plot(x, [r[k] for r in rows], label=k, lw=2 if k == "all" else 1)
    ax.set_xlabel("probe number (training progresses to the right)")
    ax.set_ylabel("cosine similarity of the gradients")
    ax.set_ylim(min(0.0, min(min(r[k] for r in rows) for k in names)) - 0.05, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=7)
    write_figure(path, fig)


if __name__ == "__main__":
    with single_threaded_blas():
        main()
