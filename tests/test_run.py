"""`python -m chipsim run` end to end: learning, run directory, determinism, entry points."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from chipsim.cli import main

from conftest import ROOT, run_cli, write_yaml

EXAMPLE = str(ROOT / "examples" / "digits_ottt.yaml")


def test_short_digits_run_learns_and_writes_the_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", EXAMPLE, "--out", str(out), "--set", "learning.epochs=2",
                 "--set", "output.record=[spikes, membrane]"]) == 0
    printed = capsys.readouterr().out
    assert "epoch   2" in printed and "test accuracy" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["epochs"][0]["test_accuracy"] < 0.4          # untrained: near chance
    assert report["final"]["test_accuracy"] > 0.85             # two epochs: well above chance
    assert report["config"]["learning"]["epochs"] == 2         # config as resolved
    assert report["data"]["n_test"] == 451
    for name in ("summary.md", "learning_curve.png", "weights.npz", "record.npz"):
        assert (out / name).stat().st_size > 0
    assert "final test accuracy" in (out / "summary.md").read_text()
    with np.load(out / "weights.npz", allow_pickle=False) as w:
        assert w["fc1"].shape == (128, 64) and w["out"].shape == (10, 128)
        assert w["fc1"].dtype == np.float64
    with np.load(out / "record.npz", allow_pickle=False) as r:
        assert r["fc1.spikes"].shape == (451, 6, 128) and set(np.unique(r["fc1.spikes"])) <= {0, 1}
        assert r["out.membrane"].shape == (451, 6, 10) and "out.spikes" not in r.files
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries


@pytest.mark.parametrize("overrides", [
    ["learning.variant=O", "learning.batch_size=1", "data.encoding=rate"],
    ["learning.variant=O", "learning.batch_size=1", "chip.arithmetic=float64"],
    ["learning.error=broadcast", "network.input_trace=true", "chip.rounding=floor"],
    ["learning.error=broadcast", "network.bias=true", "chip.arithmetic=float64"],
    ["learning.rule=bptt", "chip.arithmetic=float64"],
])
def test_same_seed_gives_byte_identical_weights(tmp_path, overrides):
    sets = [a for o in ["learning.epochs=1", *overrides] for a in ("--set", o)]
    for run in ("a", "b"):
        assert main(["run", EXAMPLE, "--out", str(tmp_path / run), *sets]) == 0
    assert (tmp_path / "a" / "weights.npz").read_bytes() == (tmp_path / "b" / "weights.npz").read_bytes()
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "c"), *sets, "--set", "seed=1"]) == 0
    assert (tmp_path / "a" / "weights.npz").read_bytes() != (tmp_path / "c" / "weights.npz").read_bytes()


def test_rule_none_evaluates_only(tmp_path):
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), "--set", "learning.rule=none"]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert len(report["epochs"]) == 1 and report["epochs"][0]["train_accuracy"] is None


def test_trace_width_limits_learning_runs_only(tmp_path, capsys):
    """IF neurons over 300 steps: a trace can reach 300, more than 8-bit traces hold beside a
    single spike. Learning is refused, naming the key; inference never uses the traces."""
    sets = ["--set", "network.neuron.model=if", "--set", "data.timesteps=300"]
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "learn"), *sets]) == 2
    err = capsys.readouterr().err
    assert "chip.bits.trace: traces reach 300" in err and "use chip.bits.trace >= 9" in err
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "infer"), *sets,
                 "--set", "learning.rule=none"]) == 0


def test_runs_from_another_directory_with_default_output_dir(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "mine.yaml")
    proc = run_cli(["run", "mine.yaml", "--set", "learning.epochs=1"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "mine" / "report.json").is_file()
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_digits_example_reaches_97_percent(tmp_path):
    """The example as shipped (float64 OTTT_A, 64-128-10, T = 6): >= 97 % test accuracy."""
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["final"]["test_accuracy"] >= 0.97


def test_rate_encoded_inputs_reach_the_chip_as_binary_spikes(tmp_path):
    """Rate encoding emits spikes: the chip's input format is binary, whatever values the
    encoder turned into spikes (not a graded payload of 1.0 in the data's format)."""
    from chipsim.data.encoders import encoded_range

    x = np.array([[0.2, 0.7], [1.0, 0.0]])
    assert encoded_range(x, "rate") == (0.0, 1.0, True)
    assert encoded_range(x, "latency") == (0.0, 1.0, True)
    assert encoded_range(x, "direct") == (0.0, 1.0, False)
    assert encoded_range(np.zeros((2, 3, 2)) + 0.5, "rate") == (0.5, 0.5, False)  # pre-encoded
    for encoding, expected in (("rate", "binary spikes"), ("direct", "u8.")):
        out = tmp_path / encoding
        assert main(["run", EXAMPLE, "--out", str(out), "--set", "learning.epochs=1",
                     "--set", f"data.encoding={encoding}", "--set", "output.plots=false"]) == 0
        report = json.loads((out / "report.json").read_text())
        row = next(r for r in report["chip"]["formats"] if r["variable"] == "input")
        assert row["format"].startswith(expected), row


def test_rule_none_simulates_the_test_set_once(tmp_path, monkeypatch):
    """Nothing to train: epoch 0's test accuracy is the final pass's, not a second pass."""
    from chipsim.chip.chip import Chip

    calls = []
    infer = Chip.infer
    monkeypatch.setattr(Chip, "infer", lambda self, x, *args: calls.append(len(x))
                        or infer(self, x, *args))
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), "--set", "learning.rule=none",
                 "--set", "output.plots=false"]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert calls == [451]
    assert report["epochs"][0]["test_accuracy"] == report["final"]["test_accuracy"]
    assert report["chip"]["spike_rates_after_quantization"]["fc1"] > 0


def test_test_set_chunking_changes_no_result(tmp_path, monkeypatch):
    """The test set is encoded and simulated in chunks sized by memory (flat in T); rate
    encoding draws the same stream however it is cut, so records and accuracy are equal."""
    import chipsim.simulation as simulation

    sets = [a for o in ["learning.rule=none", "data.encoding=rate", "output.plots=false",
                        "output.record=[spikes]"] for a in ("--set", o)]
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "whole"), *sets]) == 0
    # 7 samples a chunk: outputs (16 bytes x 10 classes) and rate-coded input (8 x 64) x T = 6
    monkeypatch.setattr(simulation, "EVAL_CHUNK_BYTES", (16 * 10 + 8 * 64) * 6 * 7)
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "chunks"), *sets]) == 0
    for name in ("record.npz", "weights.npz"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "chunks" / name).read_bytes()


TINY_KERNEL = ("import numba\n\n@numba.njit(cache=True)\ndef twice(x):\n    return {} * x\n\n\n"
               "def kernel():\n    return twice\n")


def with_tiny_kernel(tmp_path, code: str, factor: int = 2):
    """Run ``code`` in a new Python beside a module tiny_kernel (one cached numba kernel,
    ``twice``, returning factor x) in tmp_path, numba's cache in tmp_path/cache. The module is
    rewritten only when it changes (numba's cache notices a newer file)."""
    import subprocess
    import sys

    module, text = tmp_path / "tiny_kernel.py", TINY_KERNEL.format(factor)
    if not module.exists() or module.read_text() != text:
        module.write_text(text)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    return subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_cold_kernel_cache_is_announced(tmp_path):
    """The first call of a cached kernel compiles it (the chip's take a minute or more on a
    new environment): compile_notice says so while numba's cache lacks it, not afterwards;
    compile_timer measures the compile, and the next cold start quotes it."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import tiny_kernel\n"
            "from chipsim.chip.kernel_cache import *\n"
            "print(compile_notice([tiny_kernel.twice]))\n"
            "with compile_timer() as timer:\n"
            "    tiny_kernel.twice(3)\n"
            "print(compile_notice([tiny_kernel.twice]))\n"
            "print(timer.seconds)\n"
            "if timer.seconds:\n"
            "    record_compile_seconds(timer.seconds)\n")
    first, again = with_tiny_kernel(tmp_path, code), with_tiny_kernel(tmp_path, code)
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("compiling the chip's kernels (first run in this environment "
                               "only, 20-45 s on a 2-core machine;") and lines[1] == "None"
    assert float(lines[2]) > 0                                # numba's compile, measured
    assert again.stdout.splitlines() == ["None", "None", "0.0"]  # a new process, warm cache
    # the next cold start (new kernel sources) quotes the compile measured first
    measured = float((tmp_path / "cache" / "last_compile_seconds").read_text())
    assert measured == round(float(lines[2]), 3)
    third = with_tiny_kernel(tmp_path, code, factor=3)
    quoted = f"about {max(1, round(measured))} s: the last compile on this machine took"
    assert f"{quoted} {measured:.1f} s" in third.stdout.splitlines()[0]


def test_a_helper_process_compiles_a_kernel_into_the_cache(tmp_path):
    """compile_in_helper compiles in another process; after wait_for_helper the kernel loads
    from numba's cache here (a cache hit, no compile), and the wait counts as compiling."""
    code = ("import sys, numba; sys.path.insert(0, sys.argv[1])\n"
            "from chipsim.chip.kernel_cache import *\n"  # (first: it sets the cache folder)
            "import tiny_kernel\n"
            "with compile_timer() as timer:\n"
            "    helper = compile_in_helper(tiny_kernel.kernel, (numba.int64,))\n"
            "    wait_for_helper(helper)\n"
            "    print(tiny_kernel.twice(21), helper.returncode)\n"
            "stats = tiny_kernel.twice.stats\n"
            "print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()),\n"
            "      timer.seconds)\n")
    done = with_tiny_kernel(tmp_path, code)
    assert done.returncode == 0, done.stderr
    result, status = done.stdout.split()[:2]
    hits, misses, seconds = done.stdout.split()[2:]
    assert (result, status, hits, misses) == ("42", "0", "1", "0")
    assert float(seconds) > 0.05  # the helper's start and compile, waited for


def test_the_training_kernel_compiled_elsewhere_is_the_one_training_calls(monkeypatch):
    """The signature a cold run hands to the helper is exactly the one the first training
    batch calls the kernel with (else the helper's work would be for nothing)."""
    from chipsim.chip import chip as chip_module
    from chipsim.simulation import Simulation

    handed = []
    monkeypatch.setattr(chip_module, "is_cached", lambda kernel: False)
    monkeypatch.setattr(chip_module, "compile_in_helper",
                        lambda factory, signature: handed.append((factory, signature)))
    for overrides in ([], ["learning.variant=O", "learning.batch_size=1",
                           "data.encoding=rate"]):
        sim = Simulation(EXAMPLE, overrides=overrides + ["learning.epochs=1"])
        sim.data = type(sim.data)(sim.data.name, sim.data.x_train[:8], sim.data.y_train[:8],
                                  sim.data.x_test[:8], sim.data.y_test[:8], sim.data.n_classes)
        sim.train()
        factory, signature = handed[-1]
        assert factory() is sim.chip.rule.train_kernel(False)
        assert signature in factory().signatures
    assert len(handed) == 2


def test_the_measured_compile_time_reaches_the_outputs(tmp_path, capsys, monkeypatch):
    """A run's numba compile time (measured by compile_timer, once although train calls
    evaluate) is in report.json, summary.md and the last console line, and kept for the next
    cold start's notice."""
    from contextlib import contextmanager
    from types import SimpleNamespace

    from chipsim import simulation

    kept, calls, active = [], [], []

    @contextmanager
    def fake_timer():  # the first call compiles for 2.5 s, later ones find the kernels
        assert not active, "compile timers nested: a compile would count twice"
        calls.append(1)
        active.append(1)
        yield SimpleNamespace(seconds=2.5 if len(calls) == 1 else 0.0)
        active.pop()

    monkeypatch.setattr(simulation, "compile_timer", fake_timer)
    monkeypatch.setattr(simulation, "record_compile_seconds", kept.append)
    out = tmp_path / "r"
    assert main(["run", EXAMPLE, "--out", str(out), "--set", "learning.epochs=1",
                 "--set", "output.plots=false"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["compile_seconds"] == 2.5 and kept == [2.5]
    assert "(2.5 s of it compiling the chip's kernels, first run only)" in \
        (out / "summary.md").read_text()
    assert "of it compiling the chip's kernels" in capsys.readouterr().out.splitlines()[-1]


def test_a_closed_stdout_does_not_stop_the_run(tmp_path):
    """`chipsim run ... | head -1`: the reader goes away after the first line; the run still
    finishes and writes its directory, with exit status 0 and no traceback."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "chipsim", "run", EXAMPLE, "--out",
                             str(tmp_path / "r"), "--set", "learning.epochs=2",
                             "--set", "output.plots=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 0, err
    assert "Traceback" not in err
    assert json.loads((tmp_path / "r" / "report.json").read_text())["complete"]


def test_loss_and_metrics_csv_per_epoch(tmp_path):
    """Every epoch reports OTTT's loss (train: while learning; test: after the epoch) in
    report.json, summary.md and metrics.csv, which a plotting tool reads as it is."""
    import csv

    from chipsim.rules.loss import sample_losses, step_loss

    out = tmp_path / "run"
    assert main(["run", EXAMPLE, "--out", str(out), "--set", "learning.epochs=2",
                 "--set", "output.plots=false"]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert rows[0]["train_loss"] == "" and float(rows[0]["test_loss"]) > 1.5   # untrained
    for row, epoch in zip(rows, report["epochs"]):
        assert float(row["test_accuracy"]) == epoch["test_accuracy"]
        assert float(row["test_loss"]) == epoch["test_loss"]
    assert float(rows[2]["train_loss"]) < float(rows[1]["train_loss"]) < 1.0  # it learns
    assert report["final"]["test_loss"] == report["epochs"][-1]["test_loss"] < 0.6
    assert "| train loss | test loss |" in (out / "summary.md").read_text()
    # the loss is the rule's own: per sample sum_t L[t]; the mean is sum_t step_loss
    rng = np.random.default_rng(0)
    o, y = rng.normal(size=(5, 3, 4)), rng.integers(0, 4, 5)
    assert np.isclose(sample_losses(o, y, 0.3).mean(),
                      sum(step_loss(o[:, t], y, 0.3, 3) for t in range(3)), rtol=1e-13)


def test_small_usage_errors_say_what_to_do(tmp_path, capsys, monkeypatch):
    """A folder given as config, a missing dependency: a message and exit 2, no traceback."""
    assert main(["run", str(tmp_path)]) == 2
    assert "is a folder; expected a YAML file" in capsys.readouterr().err
    from chipsim import api

    def no_numba(*args, **kwargs):  # as an environment without numba fails on import
        raise ModuleNotFoundError("No module named 'numba'", name="numba")

    monkeypatch.setattr(api, "load_config", no_numba)
    assert main(["run", EXAMPLE]) == 2
    err = capsys.readouterr().err
    assert "the package 'numba' is not installed" in err and "pip install numba" in err
    assert "Traceback" not in err


def test_a_diverging_float64_run_stops_naming_the_epoch_and_the_key(tmp_path, capsys):
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), "--set",
                 "chip.arithmetic=float64", "--set", "learning.optimizer.lr=1000",
                 "--set", "learning.epochs=3"]) == 2
    err = capsys.readouterr().err
    assert "training diverged in epoch 1, batch" in err
    assert "learning.optimizer.lr (now 1000)" in err
    assert "Traceback" not in err and not (tmp_path / "r" / "weights.npz").exists()


def test_a_read_out_only_network_and_an_undecodable_file_name_keep_their_results(tmp_path):
    """No spiking layer (nothing to draw in a raster) and a config file name with a byte that
    is not UTF-8: the run writes its report, summary and figures."""
    name = os.fsdecode(b"read\xffout.yaml")
    config = write_yaml(tmp_path / name, {
        "network": {"layers": [{"name": "out", "units": 10, "neuron": "readout"}]},
        "learning": {"epochs": 1}})
    assert main(["run", str(config), "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["name"] == "read\ufffdout" and "warnings" not in report
    assert (tmp_path / "r" / "summary.md").exists()
    assert (tmp_path / "r" / "learning_curve.png").exists()
    assert not (tmp_path / "r" / "spike_raster.png").exists()


def test_a_figure_that_fails_costs_the_run_nothing(tmp_path, capsys, monkeypatch):
    from chipsim.report import plots

    def broken(*args, **kwargs):
        raise ValueError("a plotting bug")
    monkeypatch.setattr(plots, "energy_breakdown", broken)
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), "--set",
                 "learning.epochs=1"]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["warnings"] == ["figures not drawn (ValueError: a plotting bug)"]
    assert "warning: figures not drawn (ValueError: a plotting bug)" in capsys.readouterr().out


FORKED_DRAWING = """
import os, sys, threading
from pathlib import Path
from chipsim.report import plots
out, parent = Path(sys.argv[1]), os.getpid()

def job(k, fail_in_child=False):
    if fail_in_child and os.getpid() != parent:
        raise RuntimeError("the child's failure")
    (out / f"{k}.txt").write_text(str(os.getpid()))

assert threading.active_count() == 1
plots.draw([(job, (k,)) for k in range(4)])
plots.draw([(job, (4,)), (job, (5, True)), (job, (6,))])  # the child's job 5 fails
def broken():
    raise ValueError("a plotting bug")
try:
    plots.draw([(broken, ()), (job, (7,))])
except ValueError:
    print("raised")
print(parent)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="figures fork only on Linux")
def test_figures_are_drawn_by_two_processes_and_a_childs_failure_is_redrawn(tmp_path):
    """plots.draw in a fresh process (no other thread): a forked child draws every other
    job; a job that fails in the child is drawn again by the parent; a failure raises after
    the child has drawn its jobs."""
    done = subprocess.run([sys.executable, "-c", FORKED_DRAWING, str(tmp_path)], check=True,
                          capture_output=True, text=True, cwd=ROOT).stdout.split()
    assert done[0] == "raised"
    parent = done[1]
    pids = [(tmp_path / f"{k}.txt").read_text() for k in range(8)]
    assert pids[0] == pids[2] == pids[4] == pids[6] == parent
    assert pids[1] == pids[3] != parent and pids[7] != parent  # the child's
    assert pids[5] == parent  # redrawn here


def test_figures_are_drawn_here_while_another_thread_runs(tmp_path):
    """A second thread alive: no fork (a forked child would hold copies of its locks); every
    job is drawn in this process, in order, and a failure raises at once."""
    import threading

    from chipsim.report import plots
    stop = threading.Event()
    waiter = threading.Thread(target=stop.wait)

    def broken():
        raise ValueError("a plotting bug")
    waiter.start()
    try:
        plots.draw([(lambda k=k: (tmp_path / f"{k}.txt").write_text(str(os.getpid())), ())
                    for k in range(3)])
        with pytest.raises(ValueError, match="a plotting bug"):
            plots.draw([(broken, ()),
                        (lambda: (tmp_path / "late.txt").write_text(""), ())])
    finally:
        stop.set()
        waiter.join()
    assert {(tmp_path / f"{k}.txt").read_text() for k in range(3)} == {str(os.getpid())}
    assert not (tmp_path / "late.txt").exists()


def test_saturation_that_destroys_learning_is_a_warning_naming_the_key(tmp_path, capsys):
    """32-bit errors overflow the 24-bit accumulators on nearly every write: said on the
    console, with the key to change (the main job says nothing)."""
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), "--set", "chip.bits.error=32",
                 "--set", "learning.epochs=1", "--set", "output.plots=false"]) == 0
    out = capsys.readouterr().out
    assert "warning: layer 'fc1':" in out and "accumulator updates saturated" in out
    assert "widen chip.bits.accumulator (or narrow chip.bits.error" in out
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "ok"), "--set", "learning.epochs=1",
                 "--set", "output.plots=false"]) == 0
    assert "saturated" not in capsys.readouterr().out
