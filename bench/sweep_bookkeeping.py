"""What recording one finished point costs a sweep of 10^4 points: appending its line to
results.csv (what a sweep does per point) against rewriting results.csv and results.json
(what it did before, and still does once at the start and the end), in the same process.

Run: python bench/sweep_bookkeeping.py   (about 20 s: most of it expands the 10^4 points)
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chipsim.sweep import (_error_outcome, append_results, expand, load_sweep,  # noqa: E402
                           write_results)


def main():
    with tempfile.TemporaryDirectory(prefix="chipsim-sweep-bench-") as folder:
        out = Path(folder)
        axes = {"seed": list(range(10)), "learning.epochs": list(range(1, 11)),
                "data.timesteps": list(range(1, 11)), "chip.bits.weight": list(range(4, 14))}
        path = out / "sweep.yaml"
        path.write_text(yaml.safe_dump({"base": str(ROOT / "examples" / "digits_ottt.yaml"),
                                        "axes": axes}))
        spec = load_sweep(path)
        points = expand(spec)
        outcome = {**_error_outcome(ValueError("x"), 0.0), "resumed": False}
        done = {p.hash: outcome for p in points[:-1]}
        last = points[-1].hash
        rewrite, append = [], []
        for _ in range(3):
            write_results(out, spec, points, done)
            t0 = time.perf_counter()
            write_results(out, spec, points, {**done, last: outcome})
            rewrite.append(time.perf_counter() - t0)
            write_results(out, spec, points, done)
            t0 = time.perf_counter()
            append_results(out, spec, points, last, {**done, last: outcome})
            append.append(time.perf_counter() - t0)
        size = (out / "results.csv").stat().st_size
    print(f"{len(points):,} points, results.csv {size / 1024:,.0f} KiB: per finished point, "
          f"append {1000 * min(append):.1f} ms, rewrite {1000 * min(rewrite):,.0f} ms "
          f"(best of 3; {min(rewrite) / min(append):,.0f}x)")


if __name__ == "__main__":
    main()
