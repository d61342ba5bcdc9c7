"""`python -m chipsim sweep`: results against direct runs, worker-count independence, resume
after a kill, a Dask cluster, and the sweep file's error messages."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from chipsim.cli import main
from chipsim.errors import ConfigError
from chipsim.sweep import expand, load_sweep, run_sweep

from conftest import ROOT, write_yaml

EXAMPLE = ROOT / "examples" / "digits_ottt.yaml"
QUIET = dict(show_progress=False, echo=lambda *a: None)
FAST = {"learning.epochs": 1, "network.layers.0.units": 32, "output.plots": False}
MISSING = "/nonexistent/chipsim-weights.npz"
SMALL = {"base": str(EXAMPLE), "set": FAST,
         "axes": {"chip.bits.weight": [4, 8], "chip.rounding": ["nearest", "stochastic"]},
         # one more point that passes validation but fails at run time (no such weights file)
         "extra": [{"network.init.weights": MISSING}]}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def without_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The small sweep run once with 2 local workers: (sweep file, out dir, rows)."""
    root = tmp_path_factory.mktemp("sweep")
    path = write_yaml(root / "small.yaml", SMALL)
    out = root / "two_workers"
    run_sweep(path, out=out, workers=2, **QUIET)
    return path, out, read_csv(out / "results.csv")


def test_small_sweep_rows_equal_direct_runs(small, tmp_path):
    path, out, rows = small
    assert len(rows) == 5 and [r["point"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert [(r["chip.bits.weight"], r["chip.rounding"]) for r in rows[:4]] == [
        ("4", "nearest"), ("4", "stochastic"), ("8", "nearest"), ("8", "stochastic")]
    assert all(r["status"] == "ok" and r["error"] == "" for r in rows[:4])
    for r in rows[:4]:
        sets = [f"{k}={v}" for k, v in FAST.items()] + [
            f"chip.bits.weight={r['chip.bits.weight']}", f"chip.rounding={r['chip.rounding']}"]
        direct = tmp_path / r["hash"]
        assert main(["run", str(EXAMPLE), "--out", str(direct),
                     *[a for s in sets for a in ("--set", s)]]) == 0
        report = json.loads((direct / "report.json").read_text())
        costs, table = report["costs"], report["costs"]["primary_energy_table"]
        assert float(r["test_accuracy"]) == report["final"]["test_accuracy"]
        assert float(r["energy_per_inference_pJ"]) == \
            costs["inference"]["energy"][table]["per_sample_pJ"]
        assert float(r["energy_per_train_sample_pJ"]) == \
            costs["training"]["energy"][table]["per_sample_pJ"]
        assert int(r["sram_used_bits"]) == costs["memory"]["total"]["sram_used"]
        assert float(r["latency_cycles_per_step"]) == \
            costs["inference"]["cycles"]["per_step"]["latency_cycles"]
        assert (out / "points" / r["hash"] / "report.json").is_file()
    assert float(rows[3]["test_accuracy"]) > 0.5  # 8-bit, one epoch: it learns
    assert len({r["hash"] for r in rows}) == 5
    results = json.loads((out / "results.json").read_text())
    assert results["points_done"] == results["points_total"] == 5
    assert {r["numba_threads"] for r in results["rows"]} == {1}  # one numba thread per worker
    for fig in ("accuracy_vs_bits_weight", "energy_vs_accuracy", "costs_vs_bits_weight"):
        assert (out / f"{fig}.png").stat().st_size > 0 and (out / f"{fig}.svg").is_file()


def test_failing_point_is_an_error_row_and_the_others_run(small):
    _, _, rows = small
    failed = rows[4]
    assert failed["network.init.weights"] == MISSING and failed["chip.bits.weight"] == ""
    assert failed["status"] == "error" and MISSING in failed["error"]
    assert failed["test_accuracy"] == "" and failed["energy_per_inference_pJ"] == ""


def test_one_worker_gives_identical_results(small, tmp_path):
    path, _, rows = small
    run_sweep(path, out=tmp_path / "one", workers=1, **QUIET)
    assert without_seconds(read_csv(tmp_path / "one" / "results.csv")) == without_seconds(rows)


def test_dask_cluster_gives_identical_results(small, tmp_path):
    distributed = pytest.importorskip("distributed")
    path, _, rows = small
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None, host="127.0.0.1",
                                  protocol="tcp") as cluster:
        run_sweep(path, out=tmp_path / "dask", scheduler=cluster.scheduler_address, **QUIET)
    assert without_seconds(read_csv(tmp_path / "dask" / "results.csv")) == without_seconds(rows)


def _children(pid):
    """Child processes (Linux /proc; empty elsewhere), of every thread of pid."""
    found = set()
    for task in (os.listdir(f"/proc/{pid}/task") if os.path.isdir(f"/proc/{pid}/task") else []):
        try:
            found |= {int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()}
        except OSError:
            pass
    return found


def _cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return b""


def _alive(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killed_sweep_resumes_only_the_missing_points(small, tmp_path):
    path, _, rows = small
    expected = without_seconds(rows)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "chipsim", "sweep", str(path), "--out",
                             str(out), "--workers", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            workers |= _children(proc.pid)  # the worker and multiprocessing's resource tracker
            if (out / "results.csv").is_file() and len(read_csv(out / "results.csv")) >= 1:
                break
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.01)
        for pid in workers:  # freeze the worker mid-sweep, however loaded the machine is
            if b"resource_tracker" not in _cmdline(pid):
                os.kill(pid, signal.SIGSTOP)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(2.5)  # a stopped orphan still dies: the kernel's parent-death SIGKILL
        assert not [w for w in workers if _alive(w)], "worker processes outlived the sweep"
    finally:
        for pid in [proc.pid, *workers]:  # only on failure: leave nothing running
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    partial = without_seconds(read_csv(out / "results.csv"))
    done = {p.parent.name: p.stat().st_mtime_ns for p in (out / "points").glob("*/report.json")}
    assert 1 <= len(partial) < 5 and len(partial) <= len(done) < 4
    assert all(row in expected for row in partial), (partial, expected)  # rows are final

    # (point 4 fails by design: the sweep finishes and exits 1)
    assert main(["sweep", str(path), "--out", str(out), "--workers", "2", "--no-progress"]) == 1
    final = read_csv(out / "results.csv")
    assert without_seconds(final) == expected
    after = {p.parent.name: p.stat().st_mtime_ns for p in (out / "points").glob("*/report.json")}
    assert {k: after[k] for k in done} == done  # finished points were not run again
    recorded = json.loads((out / "results.json").read_text())["rows"]
    assert {r["hash"] for r in recorded if r["resumed"]} == set(done)
    assert len(after) == 4


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("change, match", [
    ({"axis": {"seed": [0, 1]}}, r"unknown key 'axis' \(did you mean 'axes'\?\); valid keys"),
    ({"axes": {"seed": 3}}, r"axes\.seed: expected a non-empty list of values"),
    ({"axes": {"seed": [0, 1], "chip.bits.weight": [4, 8, 16]}, "mode": "zip"},
     r"mode: zip needs axes of equal length, got seed: 2 values, chip\.bits\.weight: 3"),
    ({"mode": "gird"}, r"mode: unknown 'gird' \(did you mean 'grid'\?\)"),
    ({"base": "nothere.yaml"}, r"base: 'nothere\.yaml' not found"),
    ({"base": None}, r"base: required, the path of a net\.yaml"),
    ({"base": 3}, r"base: expected the path of a net\.yaml, got 3"),
    ({"set": {"seed": 1}, "axes": {"seed": [0, 1]}}, r"axes\.seed: also given under set"),
])
def test_sweep_file_errors_name_the_key(tmp_path, change, match):
    spec = {**SMALL, **change}
    path = write_yaml(tmp_path / "bad.yaml", {k: v for k, v in spec.items() if v is not None})
    with pytest.raises(ConfigError, match=match):
        load_sweep(path)


def test_bad_axis_key_is_reported_before_anything_runs(tmp_path, capsys):
    spec = {**SMALL, "axes": {"chip.bits.wieght": [4, 8], "seed": [0, 1]}}
    path = write_yaml(tmp_path / "typo.yaml", spec)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "4 of 5 points have an invalid config" in err and "nothing was run" in err
    assert "point 0 (chip.bits.wieght=4, seed=0)" in err
    assert "unknown key 'wieght' (did you mean 'weight'?)" in err
    assert "(and 1 more failing point)" in err and "Traceback" not in err
    assert not out.exists()


def test_out_of_range_axis_value_names_its_point(tmp_path):
    spec = {**SMALL, "axes": {"chip.bits.weight": [4, 64]}}
    del spec["extra"]
    with pytest.raises(ConfigError, match=r"point 1 \(chip\.bits\.weight=64\).*\n.*"
                                          r"chip\.bits\.weight: expected an integer in \[2, 32\]"):
        expand(load_sweep(write_yaml(tmp_path / "range.yaml", spec)))


def test_missing_dask_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    path = write_yaml(tmp_path / "s.yaml", {**SMALL, "axes": {"seed": [0]}})
    with pytest.raises(ConfigError, match=r"pip install 'chipsim\[dask\]'"):
        run_sweep(path, out=tmp_path / "out", scheduler="tcp://127.0.0.1:1", **QUIET)


def test_plot_command_draws_a_custom_figure_and_names_unknown_columns(small, tmp_path, capsys):
    _, out, _ = small
    fig = tmp_path / "acc.svg"
    assert main(["plot", str(out / "results.csv"), "--x", "chip.bits.weight",
                 "--y", "test_accuracy", "--hue", "chip.rounding", "--out", str(fig)]) == 0
    assert fig.read_text().startswith("<?xml")
    assert main(["plot", str(out / "results.csv"), "--x", "chip.bits.wieght",
                 "--y", "test_accuracy"]) == 2
    assert "--x: no column 'chip.bits.wieght' (did you mean 'chip.bits.weight'?)" in \
        capsys.readouterr().err


def test_figure_helpers_merge_coinciding_lines_skip_chance_and_name_keys():
    """What the sweep figures promise a reader: lines that coincide are drawn once with
    every value named; a Pareto front leaves out configs at chance; axes are in words."""
    from chipsim.report import sweep_plots as sp

    rows = [{"chip.core.neurons": n, "chip.bits.weight": b, "latency": 100.0 * n,
             "sram": 8.0 * b} for n in (16, 32) for b in (4, 8)]
    sram = sp._merged(rows, ["chip.core.neurons"], "chip.bits.weight", "sram")
    assert [label for label, _ in sram] == ["16, 32 neurons per core (identical)"]
    assert len(sram[0][1]) == 4
    latency = sp._merged(rows, ["chip.core.neurons"], "chip.bits.weight", "latency")
    assert [label for label, _ in latency] == ["16 neurons per core", "32 neurons per core"]
    points = [(1.0, 10.0), (2.0, 80.0), (3.0, 95.0), (2.5, 50.0)]
    assert sp.pareto_front(points) == [0, 1, 2]
    assert sp.pareto_front(points, floor=15.0) == [1, 2]  # the chance-level point is out
    assert sp._axis_name("chip.bits.weight") == "weight width (bits)"
    assert sp._value("chip.rounding", "floor") == "floor rounding"
    assert sp._axis_name("learning.surrogate.alpha") == "learning.surrogate.alpha"


def test_a_sweep_with_failed_points_exits_1_naming_them(small, tmp_path, capsys):
    path, _, _ = small
    assert main(["sweep", str(path), "--out", str(tmp_path / "s"), "--workers", "1",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "chipsim: error: 1 of 5 sweep points failed" in err and MISSING in err


def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path, capsys):
    """A 400-byte file asking for 10^8 points: exit 2 at once, no MemoryError."""
    axes = {"seed": list(range(100)), "learning.epochs": list(range(1, 101)),
            "chip.bits.weight": list(range(2, 12)), "data.timesteps": list(range(1, 1001))}
    path = write_yaml(tmp_path / "huge.yaml", {"base": str(EXAMPLE), "axes": axes})
    assert main(["sweep", str(path), "--out", str(tmp_path / "s")]) == 2
    assert "the sweep has 100,000,000 points (each a run); at most 100,000" in \
        capsys.readouterr().err


def _sweep_process(path, out, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "chipsim", "sweep", str(path), "--out",
                             str(out), "--workers", "1", "--no-progress", *extra], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_rows(proc, out, n, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out / "results.csv").is_file() and len(read_csv(out / "results.csv")) >= n:
            return
        assert proc.poll() is None, "the sweep ended too early: " + proc.stderr.read()
        time.sleep(0.01)
    raise AssertionError("no results in time")


def test_a_killed_worker_costs_no_point_and_sigint_stops_the_sweep(tmp_path):
    """SIGKILL to the worker (as the OOM killer does): the pool breaks, the unfinished points
    run again in a new one and every point ends ok. SIGINT to the sweep: it stops (130)."""
    path = write_yaml(tmp_path / "s.yaml", {"base": str(EXAMPLE), "set": FAST,
                                            "axes": {"seed": [0, 1, 2, 3, 4, 5]}})
    out = tmp_path / "killed_worker"
    proc = _sweep_process(path, out)
    try:
        _wait_for_rows(proc, out, 1)
        worker = next(pid for pid in _children(proc.pid)
                      if b"resource_tracker" not in _cmdline(pid))
        os.kill(worker, signal.SIGKILL)
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = read_csv(out / "results.csv")
    assert [r["status"] for r in rows] == ["ok"] * 6

    out = tmp_path / "interrupted"
    proc = _sweep_process(path, out)
    try:
        _wait_for_rows(proc, out, 1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(read_csv(out / "results.csv")) < 6


def test_a_sweep_compiles_in_its_workers_on_a_new_environment(tmp_path):
    """With an empty kernel cache the workers compile the kernels themselves: every point
    ends ok, with one numba thread each (it once failed every point: numba refused a changed
    NUMBA_NUM_THREADS at the first compile)."""
    path = write_yaml(tmp_path / "s.yaml", {"base": str(EXAMPLE),
                                            "set": {**FAST, "learning.rule": "none"},
                                            "axes": {"seed": [0, 1]}})
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "chipsim", "sweep", str(path), "--out",
                           str(tmp_path / "out"), "--workers", "2"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in read_csv(tmp_path / "out" / "results.csv")] == ["ok", "ok"]
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    assert [r.get("numba_threads") for r in rows] == [1, 1]


def test_a_finished_point_appends_one_line_not_the_whole_file(tmp_path):
    """Bookkeeping is O(1) per point: results.csv gains the point's line (fsync'ed), the
    earlier lines are not rewritten; the ordered rewrite happens once, at the end."""
    from chipsim.sweep import _error_outcome, append_results, write_results

    path = write_yaml(tmp_path / "s.yaml", {"base": str(EXAMPLE), "axes": {"seed": [0, 1, 2]}})
    spec = load_sweep(path)
    points = expand(spec)
    outcome = {**_error_outcome(ValueError("x"), time.perf_counter()), "resumed": False}
    outcomes = {points[2].hash: outcome}
    write_results(tmp_path, spec, points, outcomes)
    before = (tmp_path / "results.csv").read_bytes()
    json_before = (tmp_path / "results.json").stat().st_mtime_ns
    outcomes[points[0].hash] = outcome
    append_results(tmp_path, spec, points, points[0].hash, outcomes)
    after = (tmp_path / "results.csv").read_bytes()
    assert after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 1
    assert (tmp_path / "results.json").stat().st_mtime_ns == json_before
    assert [r["point"] for r in read_csv(tmp_path / "results.csv")] == ["2", "0"]
    write_results(tmp_path, spec, points, outcomes)
    assert [r["point"] for r in read_csv(tmp_path / "results.csv")] == ["0", "2"]


def test_costs_figure_gives_every_legend_entry_its_own_colour(tmp_path, monkeypatch):
    """A panel whose lines coincide draws them as one line of its own label ("... (identical)"):
    its colour must not be another entry's, as the first colour of that panel's cycle was."""
    from pathlib import Path

    import numpy as np
    from matplotlib.colors import to_hex

    from chipsim.report import sweep_plots as sp

    rows = tuple({"status": "ok", "chip.bits.weight": b, "chip.rounding": r,
                  "energy_per_inference_pJ": 1000.0 * b * (i + 1), "sram_used_bits": 8192.0 * b,
                  "latency_cycles_per_step": 10.0 * b * (i + 1), "energy_table": "loihi2018"}
                 for b in (4, 8) for i, r in enumerate(("floor", "nearest")))
    results = sp.Results(Path(tmp_path / "results.csv"), "t", (), ("chip.bits.weight",
                                                                  "chip.rounding"), rows)
    drawn = []
    monkeypatch.setattr(sp, "_save", lambda fig, stem: drawn.append(fig) or [])
    sp.costs_vs(results, "chip.bits.weight", tmp_path / "costs")
    legend = drawn[0].legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["floor rounding", "nearest rounding",
                      "floor, nearest rounding (identical)"]
    # a legend handle is a line or, for a line with error bars, a line collection
    colours = {to_hex(np.asarray(h.get_color()).reshape(-1)[:4]) for h in legend.legend_handles}
    assert len(colours) == 3

