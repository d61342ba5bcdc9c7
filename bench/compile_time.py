"""The first run's compiling: wall time of the README's main job with an empty numba cache
(cold) and again with the cache it filled (warm), and where the cold run's compiling goes.

The main job runs in a fresh process with ``NUMBA_CACHE_DIR`` set to a new temporary
directory (the cache of a new environment), under a listener on numba's compile events that
sums each kernel's own compile time (its callees' time subtracted; the training kernel, which
a helper process compiles meanwhile, is not among them). The run's own ``compile_seconds``
(report.json: this process's compiling plus the wait for the helper) is the time compiling
held the run up. Then the same command runs WARM_RUNS times more on the filled cache.

Run: python bench/compile_time.py [--config examples/digits_ottt.yaml] [--top 12]
Writes bench/results/compile_time.json (the README's table quotes it).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chipsim.report.writer import write_json  # noqa: E402

RESULT = ROOT / "bench" / "results" / "compile_time.json"
WARM_RUNS = 5  # the best of them: the machine's other load only ever adds time

# The child: the CLI under a listener on numba's compile events; prints a JSON line last.
CHILD = r"""
import collections, json, sys, time
from numba.core import event
own = collections.defaultdict(float)
stack = []

class Listener(event.Listener):
    def on_start(self, ev):
        stack.append([time.perf_counter(), 0.0])

    def on_end(self, ev):
        start, callees = stack.pop()
        total = time.perf_counter() - start
        f = ev.data["dispatcher"].py_func
        module = (f.__module__ or "generated").rsplit(".", 1)[-1]
        own[module + "." + f.__qualname__] += total - callees
        if stack:
            stack[-1][1] += total

event.register("numba:compile", Listener())
from chipsim.cli import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "own_seconds": own}))
"""


def run(args: list[str], cache: str, listen: bool) -> tuple[float, dict]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    command = ([sys.executable, "-c", CHILD] if listen
               else [sys.executable, "-m", "chipsim"]) + args
    t0 = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    return seconds, (json.loads(out.stdout.strip().splitlines()[-1]) if listen else {})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="examples/digits_ottt.yaml")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chipsim-numba-cache-") as cache, \
            tempfile.TemporaryDirectory(prefix="chipsim-run-") as out:
        cli = ["run", args.config, "--out", out, "--overwrite"]
        cold, events = run(cli, cache, listen=True)
        if events["status"] != 0:
            raise SystemExit(f"the main job exited with status {events['status']}")
        held_up = json.loads((Path(out) / "report.json").read_text())["compile_seconds"]
        warm_runs = [run(cli, cache, listen=False)[0] for _ in range(WARM_RUNS)]
    warm, median = min(warm_runs), float(np.median(warm_runs))
    own = events["own_seconds"]
    print(f"{args.config}: cold {cold:.1f} s wall (empty numba cache), of which {held_up:.1f} s "
          f"compiling ({sum(own.values()):.1f} s in this process, {len(own)} kernels and numba "
          f"internals; the training kernel in a helper process meanwhile); warm {warm:.1f} s "
          f"wall (best of {WARM_RUNS}; median {median:.1f} s)\n")
    print("| kernel (own compile time, callees excluded) | seconds |\n|---|---:|")
    for name, seconds in sorted(own.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"| {name} | {seconds:.2f} |")
    write_json(RESULT, {"config": args.config, "cold_seconds": cold,
                        "compile_seconds": held_up, "compile_seconds_in_process": sum(own.values()),
                        "warm_seconds": warm, "warm_median_seconds": median,
                        "warm_runs_seconds": warm_runs})


if __name__ == "__main__":
    main()
