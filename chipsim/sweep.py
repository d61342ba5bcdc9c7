"""Sweeps: one net.yaml run over a grid of config values, points in parallel, resumable.

``python -m chipsim sweep SWEEP.yaml [--out DIR] [--workers N] [--scheduler ADDRESS]``

A sweep file (safe YAML)::

    name: quantization          # optional; default: the sweep file's stem
    base: digits_ottt.yaml      # a net.yaml, relative to the sweep file
    set: {learning.epochs: 3}   # optional: dotted key -> value, applied to every point
    axes:                       # dotted key -> list of values
      chip.bits.weight: [4, 8]
      seed: [0, 1, 2]
    mode: grid                  # grid: every combination | zip: the i-th value of every axis
    extra:                      # optional: single points besides the axes (e.g. a reference)
      - {chip.arithmetic: float64, seed: 0}

Every point is a normal run directory ``OUT/points/<hash>/``, where <hash> names the resolved
config (its JSON with sorted keys, sha256, 12 hex digits); points that resolve to the same
config run once. ``OUT/results.csv`` and ``OUT/results.json`` hold one row per finished point
and are rewritten atomically after every point, so a killed sweep leaves consistent files; a
rerun skips every point whose directory holds a report.json of the same config. Each point
runs in its own worker process (spawned, one numba thread) or on a Dask cluster; a run is
deterministic given its config, so the results do not depend on how many workers ran them.
"""
from __future__ import annotations

import copy
import csv
import difflib
import hashlib
import io
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from chipsim.config import (Config, apply_override, problems_text, read_yaml_file,
                            resolve_paths, validate_config)
from chipsim.errors import ChipsimError, ConfigError
from chipsim.progress import progress
from chipsim.report.results_columns import ID_COLUMNS, METRIC_COLUMNS
from chipsim.report.writer import write_json, write_text

SWEEP_KEYS = ("name", "base", "set", "axes", "mode", "extra")
MODES = ("grid", "zip")
HASH_CHARS = 12
MAX_REPORTED_POINTS = 3  # failing points named in one error message (the rest are counted)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file: the base net.yaml (as a raw dict) and what varies."""

    source: Path
    name: str
    base: Path
    base_raw: dict
    set: dict[str, Any]
    axes: dict[str, list]
    mode: str
    extra: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the values it sets (axis and extra keys) and its resolved config."""

    index: int
    values: dict[str, Any]
    config: Config
    hash: str

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_cell(v)}" for k, v in self.values.items())


# ============================================================================= the sweep file
def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; every problem at once, each by its key (ConfigError)."""
    path = Path(path)
    raw = read_yaml_file(path, "sweep file (SWEEP.yaml with base and axes)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with keys "
                          f"{', '.join(SWEEP_KEYS)}, got {type(raw).__name__}")
    problems = []
    for key in raw:
        if key not in SWEEP_KEYS:
            close = difflib.get_close_matches(str(key), SWEEP_KEYS, n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"unknown key {str(key)!r}{hint}; valid keys: {', '.join(SWEEP_KEYS)}")

    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        problems.append(f"name: expected a folder-safe string (no '/'), got {name!r}")

    base, base_raw = None, {}
    if "base" not in raw:
        problems.append("base: required, the path of a net.yaml (relative to the sweep file)")
    elif not isinstance(raw["base"], str):
        problems.append(f"base: expected the path of a net.yaml, got {raw['base']!r}")
    else:
        base = (path.parent / raw["base"]).resolve()
        if not base.is_file():
            problems.append(f"base: '{raw['base']}' not found (looked for {base}; the path is "
                            "relative to the sweep file)")
        else:
            try:
                base_raw = read_yaml_file(base, "base")
            except ConfigError as exc:
                problems.append(str(exc))
            if not isinstance(base_raw, dict):
                problems.append(f"base: '{raw['base']}' must hold a mapping of sections")
                base_raw = {}
            resolve_paths(base_raw, base.parent)

    fixed = raw.get("set") or {}
    if not isinstance(fixed, dict):
        problems.append(f"set: expected a mapping of dotted keys to values "
                        f"(e.g. learning.epochs: 3), got {fixed!r}")
        fixed = {}
    problems += [f"set: key {k!r} must be a dotted config key (a string)"
                 for k in fixed if not isinstance(k, str)]

    axes = raw.get("axes")
    if axes is None and "axes" not in raw and not raw.get("extra"):
        problems.append("axes: required, a mapping of dotted config keys to lists of values "
                        "(e.g. chip.bits.weight: [4, 8])")
    axes = axes or {}
    if not isinstance(axes, dict):
        problems.append(f"axes: expected a mapping of dotted config keys to lists of values, "
                        f"got {axes!r}")
        axes = {}
    for key, values in axes.items():
        if not isinstance(key, str):
            problems.append(f"axes: key {key!r} must be a dotted config key (a string)")
        elif not isinstance(values, list) or not values:
            problems.append(f"axes.{key}: expected a non-empty list of values "
                            f"(e.g. {key}: [{_cell(values)}]), got {values!r}")
        elif key in fixed:
            problems.append(f"axes.{key}: also given under set; keep it in one place")

    mode = raw.get("mode", "grid")
    if mode not in MODES:
        close = difflib.get_close_matches(str(mode), MODES, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"mode: unknown {mode!r}{hint}; expected grid (every combination of "
                        "the axes) or zip (axes of equal length, taken in step)")
    elif mode == "zip":
        lengths = {k: len(v) for k, v in axes.items() if isinstance(v, list)}
        if len(set(lengths.values())) > 1:
            problems.append("mode: zip needs axes of equal length, got "
                            + ", ".join(f"{k}: {n} values" for k, n in lengths.items()))

    extra = raw.get("extra") or []
    if not isinstance(extra, list) or not all(isinstance(e, dict) and e for e in extra):
        problems.append("extra: expected a list of points, each a non-empty mapping of dotted "
                        "config keys to values (e.g. - {chip.arithmetic: float64})")
        extra = []

    if problems:
        raise ConfigError(problems_text(str(path), problems, "the sweep file"))
    return SweepSpec(path, name, base, base_raw, dict(fixed), dict(axes), mode,
                     tuple(dict(e) for e in extra))


MAX_POINTS = 100_000


def expand(spec: SweepSpec) -> list[Point]:
    """Every point of the sweep, its config resolved and validated; ConfigError naming the
    failing points (before anything runs)."""
    keys = list(spec.axes)
    count = (0 if not keys else len(next(iter(spec.axes.values()))) if spec.mode == "zip"
             else math.prod(len(v) for v in spec.axes.values())) + len(spec.extra)
    if count > MAX_POINTS:
        raise ConfigError(f"{spec.source}: axes: the sweep has {count:,} points (each a run); at "
                          f"most {MAX_POINTS:,}: use fewer values per axis, or mode: zip")
    if not keys:
        combos = []
    elif spec.mode == "zip":
        combos = list(zip(*spec.axes.values()))
    else:
        combos = list(itertools.product(*spec.axes.values()))
    assignments = [dict(zip(keys, c)) for c in combos] + [dict(e) for e in spec.extra]
    points, failures = [], []
    for index, values in enumerate(assignments):
        label = ", ".join(f"{k}={_cell(v)}" for k, v in values.items())
        raw = copy.deepcopy(spec.base_raw)
        try:
            for key, value in {**spec.set, **values}.items():
                apply_override(raw, f"{key}={_yaml_value(value)}")
        except ConfigError as exc:  # a key that walks into a value or past a list's end
            failures.append(f"point {index} ({label}): {exc}")
            continue
        try:
            config = validate_config(raw, source=f"point {index} ({label})")
        except ConfigError as exc:
            failures.append(str(exc))
            continue
        points.append(Point(index, values, config,
                            config_hash(config.model_dump(mode="json"))))
    if failures:
        shown = "\n".join(failures[:MAX_REPORTED_POINTS])
        more = len(failures) - MAX_REPORTED_POINTS
        tail = f"\n(and {more} more failing point{'s' if more > 1 else ''})" if more > 0 else ""
        raise ConfigError(f"{spec.source}: {len(failures)} of {len(assignments)} points have "
                          f"an invalid config (base {spec.base.name}); nothing was run\n"
                          f"{shown}{tail}")
    return points


def config_hash(config_json: dict) -> str:
    """Short name of a resolved config (``config.model_dump(mode="json")``, as report.json
    holds it): sha256 of its JSON with sorted keys."""
    text = json.dumps(config_json, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def _yaml_value(value) -> str:
    # apply_override parses its value as YAML: dump it back as one flow-style YAML document.
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip() \
        .removesuffix("...").strip()


# ============================================================================= running
def run_sweep(path: str | Path, out: str | Path | None = None, workers: int | None = None,
              scheduler: str | None = None, show_progress: bool | None = None,
              echo=None) -> list[dict]:
    """Run every point of a sweep file not already done; write results and figures to OUT.

    Returns the result rows (one per point, in point order). Points run in ``workers`` local
    processes (default: the number of cores) or, with ``scheduler``, on that Dask cluster.
    """
    echo = echo or _say
    spec = load_sweep(path)
    points = expand(spec)
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {workers}")
    out = Path(out) if out is not None else Path("runs") / spec.name
    outcomes: dict[str, dict] = {}
    for p in points:
        report = _finished_report(out, p)
        if report is not None:
            outcomes[p.hash] = {**point_metrics(report), "resumed": True}
    jobs = {}
    for p in points:
        if p.hash not in outcomes and p.hash not in jobs:
            jobs[p.hash] = {"hash": p.hash, "config": p.config.model_dump(mode="json"),
                            "name": f"{spec.name} [{p.label}]",
                            "run_dir": str((out / "points" / p.hash).resolve())}
    workers = min(workers or os.cpu_count() or 1, max(len(jobs), 1))
    client = _dask_client(scheduler) if scheduler and jobs else None
    done_before = sum(p.hash in outcomes for p in points)
    where = f"Dask scheduler {scheduler}" if scheduler else f"{workers} worker process(es)"
    echo(f"sweep {spec.name}: {len(points)} points ({_shape(spec)}), {done_before} done "
         f"earlier, running {len(jobs)} run(s) on {where} -> {out}")
    write_results(out, spec, points, outcomes)
    if jobs:
        started = time.perf_counter()
        stream = (_run_on_dask(list(jobs.values()), client) if client is not None
                  else _run_local(list(jobs.values()), workers))
        with progress(len(points), f"sweep {spec.name}", show_progress) as bar:
            bar.unit = "point"
            bar.update(done_before)
            try:
                for key, outcome in stream:
                    outcomes[key] = outcome
                    append_results(out, spec, points, key, outcomes)
                    mine = [p for p in points if p.hash == key]
                    bar.update(len(mine))
                    line = _progress_line(mine[0], outcome,
                                          sum(p.hash in outcomes for p in points), len(points))
                    if bar.disable:
                        echo(line)
                    else:  # on a terminal: each point's line above the bar, not instead of it
                        bar.write(line)
            finally:
                stream.close()
                write_results(out, spec, points, outcomes)  # in point order, with the JSON
        echo(f"sweep {spec.name}: {len(jobs)} run(s) in {time.perf_counter() - started:.1f} s")
    rows = result_rows(spec, points, outcomes)
    errors = sum(r["status"] == "error" for r in rows)
    from chipsim.report.sweep_plots import standard_figures

    figures = standard_figures(out / "results.csv", out)
    echo(f"sweep {spec.name}: {len(rows) - errors} ok, {errors} error(s); results.csv, "
         f"results.json{', ' + str(len(figures)) + ' figure(s)' if figures else ''} -> {out}")
    stale = {d.name for d in (out / "points").glob("*") if d.is_dir()} - {p.hash for p in points}
    if stale:
        echo(f"sweep {spec.name}: {len(stale)} folder(s) in {out / 'points'} belong to no point "
             "of this sweep (an edited sweep file, or a chipsim whose config changed); kept")
    return rows


def _say(*args) -> None:
    print(*args, flush=True)  # a sweep runs for long: its log lines should not wait in a buffer


def _shape(spec: SweepSpec) -> str:
    sizes = " x ".join(f"{k} {len(v)}" for k, v in spec.axes.items())
    extra = f" + {len(spec.extra)} extra" if spec.extra else ""
    return f"{spec.mode} of {sizes or 'no axes'}{extra}"


def _progress_line(point: Point, outcome: dict, done: int, total: int) -> str:
    if outcome["status"] == "ok":
        return (f"  [{done}/{total}] {point.label}: test {100 * outcome['test_accuracy']:.2f} % "
                f"({outcome['seconds']:.1f} s)")
    return f"  [{done}/{total}] {point.label}: error: {outcome['error']}"


def _finished_report(out: Path, point: Point) -> dict | None:
    """The report.json of a point's run directory if it is complete and of the same config."""
    path = out / "points" / point.hash / "report.json"
    try:
        report = json.loads(path.read_text())
        same = config_hash(report["config"]) == point.hash
        return report if same and "final" in report else None
    except (OSError, ValueError, KeyError, TypeError):  # missing, unreadable or foreign
        return None


def point_metrics(report: dict) -> dict:
    """The results.csv numbers of one run (cost columns None for float64 runs)."""
    row = {"test_accuracy": report["final"]["test_accuracy"], "seconds": report["seconds"],
           "chance_accuracy": 1.0 / report["data"]["n_classes"], "status": "ok",
           "error": None, "energy_per_inference_pJ": None,
           "energy_per_train_sample_pJ": None, "energy_table": None, "sram_used_bits": None,
           "latency_cycles_per_step": None}
    costs = report.get("costs")
    if costs:
        table = costs["primary_energy_table"]
        row["energy_table"] = table
        if "inference" in costs:
            row["energy_per_inference_pJ"] = costs["inference"]["energy"][table]["per_sample_pJ"]
            row["latency_cycles_per_step"] = \
                costs["inference"]["cycles"]["per_step"]["latency_cycles"]
        if "training" in costs:
            row["energy_per_train_sample_pJ"] = \
                costs["training"]["energy"][table]["per_sample_pJ"]
        row["sram_used_bits"] = costs["memory"]["total"]["sram_used"]
    return row


def run_point(job: dict) -> dict:
    """Run one point (in a worker): its run directory, then its results row.

    A point that fails is returned as status 'error' with the message (and, for an internal
    error, error.txt with the traceback in its run directory); it never stops the sweep.
    """
    import numba

    from chipsim.runner import run

    numba.set_num_threads(1)  # parallelism is across points; also caps Dask worker threads
    started = time.perf_counter()
    try:
        config = validate_config(job["config"], source=job["name"])
        report = run(config, job["name"], job["run_dir"], echo=lambda *a: None,
                     show_progress=False, overwrite=True)  # the sweep's own point folder
        outcome = point_metrics(report)
    except ChipsimError as exc:
        outcome = _error_outcome(exc, started)
    except Exception as exc:  # a bug in chipsim: keep the traceback beside the point
        write_text(Path(job["run_dir"]) / "error.txt", traceback.format_exc())
        outcome = _error_outcome(exc, started, internal=True)
    return {**outcome, "numba_threads": numba.get_num_threads(), "resumed": False}


def _error_outcome(exc: BaseException, started: float, internal: bool = False) -> dict:
    message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if internal or not isinstance(exc, ChipsimError):
        message = f"{type(exc).__name__}: {message}" + (
            " (internal error; traceback in error.txt)" if internal else "")
    return {"test_accuracy": None, "chance_accuracy": None, "energy_per_inference_pJ": None,
            "energy_per_train_sample_pJ": None, "energy_table": None, "sram_used_bits": None,
            "latency_cycles_per_step": None, "seconds": time.perf_counter() - started,
            "status": "error", "error": message}


def _run_local(jobs: list[dict], workers: int) -> Iterator[tuple[str, dict]]:
    """(hash, outcome) of each job as it finishes, from spawned worker processes.

    A worker that dies (killed, or by the kernel's OOM killer) breaks the whole pool: every
    point it had not finished gets a second try in a new pool; only a point that breaks that
    one too becomes an error row."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pending, retried = list(jobs), set()
    while pending:
        pool = ProcessPoolExecutor(max_workers=workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(os.getpid(),))
        finished, broken = False, []
        try:
            futures = {pool.submit(run_point, job): job for job in pending}
            for future in as_completed(futures):
                job = futures[future]
                if isinstance(future.exception(), BrokenProcessPool) \
                        and job["hash"] not in retried:
                    broken.append(job)
                    continue
                yield job["hash"], _outcome_of(future)
            finished = True
        finally:
            # Interrupted: drop the queued points and do not wait for the running ones.
            pool.shutdown(wait=finished, cancel_futures=not finished)
        retried.update(job["hash"] for job in broken)
        pending = broken


def _init_worker(parent: int) -> None:
    """Worker start: exit when the sweep process is gone (killed), since an orphaned worker
    would otherwise wait for work forever. (Its one numba thread is set by run_point:
    NUMBA_NUM_THREADS set here, after unpickling this function imported numba, made every
    compile in the worker fail, so a sweep on a new environment lost all its points.)"""
    _killed_with_parent()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _killed_with_parent() -> None:
    """Linux: the kernel kills this worker the moment its parent dies (PR_SET_PDEATHSIG), so a
    killed sweep's worker does not go on finishing points for up to a second."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no prctl: the polling thread still ends the worker


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _dask_client(address: str):
    """A client of the Dask distributed scheduler at ``address`` (dask is imported only here)."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--scheduler: running on a Dask cluster needs dask.distributed, "
                          "which is not installed; pip install 'chipsim[dask]'") from None
    try:
        return Client(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"--scheduler {address}: cannot connect to a Dask scheduler there "
                          f"({exc})") from None


def _run_on_dask(jobs: list[dict], client) -> Iterator[tuple[str, dict]]:
    """(hash, outcome) of each job as it finishes on the client's Dask cluster (the run
    directories must be on a file system the workers share)."""
    from distributed import as_completed

    try:
        futures = {client.submit(run_point, job, key=f"chipsim-point-{job['hash']}",
                                 pure=False): job["hash"] for job in jobs}
        for future in as_completed(list(futures), loop=client.loop):
            yield futures[future], _outcome_of(future)
    finally:
        client.close()


def _outcome_of(future) -> dict:
    """The outcome a future holds; a worker that died or raised becomes an error row."""
    try:
        return future.result()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the worker process died or the task was lost
        from concurrent.futures.process import BrokenProcessPool

        why = ("its worker process died twice (killed, or out of memory: see the system log)"
               if isinstance(exc, BrokenProcessPool) else f"{type(exc).__name__}: {exc}")
        return {**_error_outcome(exc, time.perf_counter()), "seconds": None,
                "error": f"worker failed: {why}", "resumed": False}


# ============================================================================= results
def result_rows(spec: SweepSpec, points: list[Point], outcomes: dict[str, dict]) -> list[dict]:
    """One row per finished point, in point order: id, the values it sets, the metrics."""
    rows = []
    for p in points:
        if p.hash in outcomes:
            outcome = outcomes[p.hash]
            rows.append({"point": p.index, "hash": p.hash, **p.values,
                         **{k: outcome.get(k) for k in METRIC_COLUMNS},
                         "resumed": outcome.get("resumed", False),
                         "numba_threads": outcome.get("numba_threads")})
    return rows


def value_columns(spec: SweepSpec) -> list[str]:
    """The axis keys, then keys only the extra points set."""
    keys = list(spec.axes)
    for e in spec.extra:
        keys += [k for k in e if k not in keys]
    return keys


def write_results(out: Path, spec: SweepSpec, points: list[Point],
                  outcomes: dict[str, dict]) -> None:
    """results.csv (finished points in point order, values as YAML scalars) and results.json,
    atomically (at the start and the end of a sweep; in between rows are appended)."""
    rows = result_rows(spec, points, outcomes)
    columns = [*ID_COLUMNS, *value_columns(spec), *METRIC_COLUMNS]
    write_text(out / "results.csv", _csv_lines(columns, rows, header=True))
    write_json(out / "results.json", {
        "name": spec.name, "sweep_file": str(spec.source.resolve()), "base": str(spec.base),
        "mode": spec.mode, "set": spec.set, "axes": spec.axes, "extra": list(spec.extra),
        "points_total": len(points), "points_done": len(rows),
        "columns": columns,
        "rows": [{**r, "dir": f"points/{r['hash']}"} for r in rows]})


def append_results(out: Path, spec: SweepSpec, points: list[Point], key: str,
                   outcomes: dict[str, dict]) -> None:
    """Add the rows of the points with hash ``key`` to results.csv: one append and fsync per
    point, whatever the sweep's size (the whole file is rewritten in order at the end)."""
    rows = result_rows(spec, [p for p in points if p.hash == key], outcomes)
    columns = [*ID_COLUMNS, *value_columns(spec), *METRIC_COLUMNS]
    fd = os.open(out / "results.csv", os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, _csv_lines(columns, rows).encode())  # one write: a line whole or not
        os.fsync(fd)
    finally:
        os.close(fd)


def _csv_lines(columns: list[str], rows: list[dict], header: bool = False) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _cell(row[c]) for c in columns])
    return buf.getvalue()


def _cell(value) -> str:
    """A value as it reads in YAML (strings bare, floats at full precision)."""
    if isinstance(value, str):
        return value
    return repr(value) if isinstance(value, float) else _yaml_value(value)
