"""Reliability: exact resume after SIGKILL, SIGINT checkpoints, damaged checkpoints, hostile
configs and files, oversize configs, overflow policy 'error'."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from chipsim.cli import main
from chipsim.config import load_config, validate_config
from chipsim.errors import ConfigError, DataError
from chipsim.mapping.network import read_npz

from conftest import ROOT, write_yaml

EXAMPLE = str(ROOT / "examples" / "digits_ottt.yaml")
# A run long enough to be interrupted (several seconds), small enough for CI: OTTT_O at
# T = 16 on 15 % of the digits, 6 epochs, checkpoints every 50 samples.
LONG = ["learning.variant=O", "learning.batch_size=1", "data.timesteps=16", "learning.epochs=6",
        "data.test_fraction=0.85", "output.checkpoint_every=50", "output.plots=false"]


def sets(items):
    return [a for o in items for a in ("--set", o)]


def start(out, extra=()):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "chipsim", "run", EXAMPLE, "--out", str(out),
                             *sets(LONG), *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(path, proc, timeout=300):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, f"run ended before {path.name} appeared: {proc.communicate()}"
        assert time.time() - t0 < timeout
        time.sleep(0.01)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    assert main(["run", EXAMPLE, "--out", str(out), *sets(LONG)]) == 0
    return out


def assert_same_result(a, b):
    assert (a / "weights.npz").read_bytes() == (b / "weights.npz").read_bytes()
    ra, rb = (json.loads((d / "report.json").read_text()) for d in (a, b))
    assert ra["chip"]["counts"] == rb["chip"]["counts"]
    assert [e["test_accuracy"] for e in ra["epochs"]] == [e["test_accuracy"] for e in rb["epochs"]]
    assert ra["complete"] and rb["complete"]


def test_sigkill_then_resume_gives_identical_weights_and_counters(tmp_path, uninterrupted):
    out = tmp_path / "run"
    proc = start(out)
    wait_for(out / "checkpoint.npz", proc)
    time.sleep(np.random.default_rng().uniform(0, 0.5))  # a random point after a checkpoint
    proc.kill()
    proc.wait()
    if (out / "report.json").exists():
        pytest.skip("the run finished before it could be killed")
    assert not list(out.glob("*.tmp")) or all(p.name.startswith(".") for p in out.glob("*.tmp"))
    assert main(["run", EXAMPLE, "--resume", str(out), *sets(LONG)]) == 0
    assert_same_result(out, uninterrupted)
    assert not (out / "checkpoint.npz").exists()


def test_sigint_checkpoints_marks_report_incomplete_and_exits_130(tmp_path, uninterrupted):
    out = tmp_path / "run"
    proc = start(out)
    wait_for(out / "checkpoint.npz", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT" in err and "--resume" in err and "Traceback" not in err
    # the hint is the command to type; the checkpoint holds the config, so it is all it takes
    hint = shlex.join(["python", "-m", "chipsim", "run", "--resume", str(out)])
    assert "continue with: " + hint in err, err
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] is False and report["interrupted_by"] == "SIGINT"
    assert main(["run", "--resume", str(out)]) == 0
    assert_same_result(out, uninterrupted)


def test_float64_resume_restores_momentum(tmp_path):
    common = ["chip.arithmetic=float64", "learning.optimizer.momentum=0.9",
              "learning.optimizer.lr=0.05", "learning.epochs=2", "output.checkpoint_every=300",
              "output.plots=false"]
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "full"), *sets(common)]) == 0
    # stop after the first checkpoint by asking the runner to stop (what SIGTERM does)
    from chipsim.runner import Interrupted, run

    config = load_config(EXAMPLE, common)
    calls = []

    def stop():
        calls.append(1)
        return signal.SIGTERM if len(calls) == 60 else 0

    with pytest.raises(Interrupted) as info:
        run(config, "x", tmp_path / "part", echo=lambda *a: None, stop=stop)
    assert info.value.exit_status == 143
    assert main(["run", EXAMPLE, "--resume", str(tmp_path / "part"), *sets(common)]) == 0
    assert (tmp_path / "full" / "weights.npz").read_bytes() == \
        (tmp_path / "part" / "weights.npz").read_bytes()


def test_damaged_or_foreign_checkpoint_is_refused(tmp_path, capsys):
    from chipsim.runner import Interrupted, run

    config = load_config(EXAMPLE, LONG)
    with pytest.raises(Interrupted):
        run(config, "x", tmp_path / "r", echo=lambda *a: None, stop=lambda: signal.SIGINT)
    ckpt = tmp_path / "r" / "checkpoint.npz"
    good = ckpt.read_bytes()
    assert main(["run", EXAMPLE, "--resume", str(tmp_path / "r"), *sets(LONG),
                 "--set", "seed=1"]) == 2
    assert "written by a different config" in capsys.readouterr().err
    ckpt.write_bytes(good[: len(good) // 2])
    assert main(["run", EXAMPLE, "--resume", str(tmp_path / "r"), *sets(LONG)]) == 2
    err = capsys.readouterr().err
    assert "is damaged or truncated" in err and "Traceback" not in err
    assert main(["run", EXAMPLE, "--resume", str(tmp_path / "nowhere"), *sets(LONG)]) == 2
    assert "no checkpoint.npz there" in capsys.readouterr().err


def test_oversize_config_is_refused_before_anything_is_loaded(tmp_path, capsys):
    big = {"data": {"source": "npz", "path": str(tmp_path / "absent.npz")},
           "network": {"layers": [{"units": 1_000_000}, {"units": 1_000_000},
                                  {"units": 10, "neuron": "readout"}]}}
    status = main(["run", str(write_yaml(tmp_path / "n.yaml", big))])
    err = capsys.readouterr().err
    assert status == 2 and "network.layers: 1e+12 synapses need about" in err
    assert "absent.npz" not in err   # refused at validation, before the data file is opened


def test_overflow_policy_error_names_layer_variable_step_value(tmp_path, capsys):
    status = main(["run", EXAMPLE, "--out", str(tmp_path / "r"), "--set", "chip.bits.membrane=9",
                   "--set", "chip.membrane_headroom=2", "--set", "chip.overflow={membrane: error}"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "overflow of the membrane in layer" in err and "time step" in err and "value" in err
    report = json.loads((tmp_path / "r" / "report.json").read_text())  # what ran is kept
    assert report["complete"] is False and "overflow of the membrane" in report["stopped_by"]


# ----------------------------------------------------------------------------- hostile input
KEYS = ["seed", "data", "data.source", "data.timesteps", "data.encoding", "data.randman.units",
        "network", "network.layers", "network.layers.0", "network.layers.0.units",
        "network.layers.1.neuron", "network.neuron.tau", "network.init", "learning.rule",
        "learning.optimizer.lr", "learning.batch_size", "chip", "chip.bits", "chip.bits.weight",
        "chip.mesh", "chip.energy", "chip.overflow", "chip.cycles.clock_mhz", "output.record",
        "output", "bogus", "learning.bogus", "chip.core.neurons"]
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**13, 10**13) | st.floats(allow_nan=True)
    | st.text(max_size=8) | st.sampled_from(["ottt", "fixed", "digits", "error", "A", "lif"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=4))
def test_random_configs_load_or_raise_config_error(changes):
    raw = yaml.safe_load(open(EXAMPLE))
    for key, value in changes:
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    break
                node = node[int(part)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                break
        else:
            if isinstance(node, dict):
                node[parts[-1]] = value
            elif isinstance(node, list) and parts[-1].isdigit() and int(parts[-1]) < len(node):
                node[int(parts[-1])] = value
    try:
        validate_config(raw)
    except ConfigError as exc:
        assert str(exc).strip()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_as_yaml_raise_config_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("y") / "net.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError):
        load_config(path)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_random_bytes_as_npz_raise_data_error(tmp_path_factory, data, zip_header):
    path = tmp_path_factory.mktemp("z") / "w.npz"
    path.write_bytes((b"PK\x03\x04" if zip_header else b"") + data)
    with pytest.raises(DataError):
        read_npz(path, "weights file")


def test_pickled_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "p.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="not a readable .npz file"):
        read_npz(tmp_path / "p.npz", "data file")


def test_npz_zip_with_a_bad_member_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "b.npz", "w") as z:
        z.writestr("x.npy", b"\x93NUMPY garbage")
    with pytest.raises(DataError):
        read_npz(tmp_path / "b.npz", "data file")


def test_run_needs_a_config_or_a_checkpoint_that_holds_one(tmp_path, capsys):
    assert main(["run"]) == 2
    assert "give a net.yaml, or --resume DIR" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "no checkpoint.npz there" in capsys.readouterr().err
    from chipsim.report.writer import write_npz  # a checkpoint of an older chipsim: no config
    meta = json.dumps({"config_sha256": "x", "position": {"epoch": 1, "batch": 0}})
    write_npz(tmp_path / "checkpoint.npz", {"__meta__": np.frombuffer(meta.encode(), np.uint8)})
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "does not hold its config" in capsys.readouterr().err


def _interrupted_run(tmp_path, config_sets=LONG):
    from chipsim.runner import Interrupted, run

    with pytest.raises(Interrupted):
        run(load_config(EXAMPLE, config_sets), "x", tmp_path / "r", echo=lambda *a: None,
            stop=lambda: signal.SIGINT)
    return tmp_path / "r" / "checkpoint.npz"


@pytest.mark.parametrize("change, expect", [
    ({"epoch": 10**9}, "position.epoch is 1000000000, the config trains epochs 1 to"),
    ({"epoch": "1"}, "position.epoch: expected an integer >= 1, got '1' (str)"),
    ({"batch": 10**6}, "position.batch is 1000000, an epoch has"),
    ({"epochs": 3}, "position.epochs: expected a list, each a mapping of names to a number or "
                    "a string or null, got 3"),
    ({"correct": None}, "position.correct: expected an integer >= 0, got None"),
    ({"loss_sum": float("nan")}, "position.loss_sum: expected a number, got nan")])
def test_crafted_checkpoint_positions_are_refused(tmp_path, capsys, change, expect):
    ckpt = _interrupted_run(tmp_path)
    with np.load(ckpt) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["__meta__"].tobytes())
    meta["position"].update(change)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(ckpt, **arrays)
    assert main(["run", "--resume", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err


def test_resume_names_the_changed_key_and_notices_a_replaced_data_file(tmp_path, capsys):
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.random((64, 8)), y=rng.integers(0, 2, 64))
    net = write_yaml(tmp_path / "net.yaml", {
        "data": {"source": "npz", "path": str(data)},
        "network": {"layers": [{"name": "h", "units": 8}, {"name": "out", "units": 2,
                                                           "neuron": "readout"}]},
        "learning": {"epochs": 3, "batch_size": 1}})
    from chipsim.runner import Interrupted, run

    with pytest.raises(Interrupted):
        run(load_config(net), "x", tmp_path / "r", echo=lambda *a: None,
            stop=lambda: signal.SIGINT)
    assert main(["run", str(net), "--resume", str(tmp_path / "r"), "--set", "seed=5",
                 "--set", "learning.optimizer.lr=0.01"]) == 2
    assert "(learning.optimizer.lr, seed changed)" in capsys.readouterr().err
    np.savez(data, x=rng.random((64, 8)), y=rng.integers(0, 2, 64))   # replaced
    assert main(["run", "--resume", str(tmp_path / "r")]) == 2
    assert f"the data file '{data}' is not the one the run started with" in \
        capsys.readouterr().err


def test_a_signal_during_evaluation_or_writing_is_honoured(tmp_path):
    """SIGTERM while the test set is evaluated checkpoints and stops (the resumed run ends
    with the uninterrupted run's weights); SIGTERM while the results are written stops after
    them with 143, the run complete."""
    from chipsim.runner import Interrupted, run

    quick = ["learning.epochs=1", "output.plots=false"]
    config = load_config(EXAMPLE, quick)
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "whole"), *sets(quick)]) == 0
    batches = -(-1346 // config.learning.batch_size)
    calls = []

    def stop_in_evaluation():  # 1: epoch 0's evaluation, then the batches, then epoch 1's
        calls.append(1)
        return signal.SIGTERM if len(calls) == batches + 2 else 0

    with pytest.raises(Interrupted) as info:
        run(config, "x", tmp_path / "eval", echo=lambda *a: None, stop=stop_in_evaluation)
    assert info.value.directory == tmp_path / "eval"
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["complete"] is False
    assert main(["run", "--resume", str(tmp_path / "eval")]) == 0
    assert (tmp_path / "eval" / "weights.npz").read_bytes() == \
        (tmp_path / "whole" / "weights.npz").read_bytes()

    calls.clear()

    def stop_while_writing():
        calls.append(1)
        return signal.SIGTERM if len(calls) > batches + 2 else 0

    with pytest.raises(Interrupted) as info:
        run(config, "x", tmp_path / "write", echo=lambda *a: None, stop=stop_while_writing)
    assert info.value.exit_status == 143 and info.value.directory is None
    assert "while the results were written; they are complete" in str(info.value)
    assert json.loads((tmp_path / "write" / "report.json").read_text())["complete"] is True
    assert not (tmp_path / "write" / "checkpoint.npz").exists()


def test_a_checkpoint_declaring_a_huge_array_is_refused_from_its_header(tmp_path, capsys):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                               "shape": (10**12,)})
    (tmp_path / "r").mkdir()
    with zipfile.ZipFile(tmp_path / "r" / "checkpoint.npz", "w") as z:
        z.writestr("model/w.npy", buf.getvalue() + bytes(100))
    assert main(["run", EXAMPLE, "--resume", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "is damaged or truncated (array 'model/w.npy' declares shape (1000000000000,)" in err
