"""The run directory is claimed before any work (chipsim/output_dir.py): bad paths, folders
that hold another run, a second process on the same folder and bad output.dir templates are
refused with exit 2 and a message naming the folder; nothing the user had is lost."""
import errno
import os
from pathlib import Path

import pytest

from chipsim import runner
from chipsim.cli import main
from chipsim.output_dir import LOCK, RUN_FILES, OutputDirectory

from conftest import ROOT

EXAMPLE = str(ROOT / "examples" / "digits_ottt.yaml")
QUICK = ["--set", "learning.epochs=1", "--set", "output.plots=false"]


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the run gets as far as building the simulation."""
    def refuse(*args, **kwargs):
        raise AssertionError("the run started working before its output folder was checked")
    monkeypatch.setattr(runner, "Simulation", refuse)


def run(out, *extra):
    return main(["run", EXAMPLE, "--out", str(out), *QUICK, *extra])


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("case", ["file", "under a file", "dangling symlink", "device", "empty",
                                  "not permitted"])
def test_a_bad_out_is_refused_before_any_work(tmp_path, capsys, no_work, case):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    out, expect = {"file": (tmp_path / "notes.txt", "is a file, not a folder"),
                   "under a file": (tmp_path / "notes.txt" / "run", "is a file, so no folder"),
                   "dangling symlink": (tmp_path / "link", "does not exist"),
                   "device": ("/dev/null", "is a file"),
                   "empty": ("", "an empty path"),
                   "not permitted": ("/sys/chipsim-run", "cannot write there")}[case]
    before = snapshot(tmp_path)
    assert run(out) == 2
    err = capsys.readouterr().err
    assert err.startswith("chipsim: error: --out") and expect in err and "Traceback" not in err
    assert snapshot(tmp_path) == before                       # nothing of the user's changed


def test_a_read_only_file_system_is_named(tmp_path, capsys, no_work, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))
    monkeypatch.setattr(Path, "mkdir", read_only)
    assert run(tmp_path / "r") == 2
    assert "cannot write there (a read-only file system)" in capsys.readouterr().err


def test_an_interrupted_run_is_kept_and_named(tmp_path, capsys, no_work):
    out = tmp_path / "r"
    out.mkdir()
    (out / "checkpoint.npz").write_bytes(b"an interrupted run's state")
    (out / "report.json").write_text('{"complete": false}')
    before = snapshot(out)
    assert run(out) == 2
    err = capsys.readouterr().err
    assert "holds the results of an earlier interrupted run" in err and "--resume" in err
    assert snapshot(out) == before


def test_a_finished_run_is_refused_then_replaced_with_overwrite(tmp_path, capsys):
    out = tmp_path / "r"
    assert run(out, "--set", "output.record=[spikes]") == 0
    (out / "notes.txt").write_text("mine")
    first = snapshot(out)
    assert run(out, "--set", "seed=1") == 2
    err = capsys.readouterr().err
    assert "holds the results of an earlier run (report.json" in err and "--overwrite" in err
    assert snapshot(out) == first
    assert run(out, "--set", "seed=1", "--overwrite") == 0
    after = snapshot(out)
    assert "record.npz" not in after                 # the first run's, not written again
    assert after["notes.txt"] == b"mine"             # not chipsim's: kept
    assert after["weights.npz"] != first["weights.npz"]


def test_a_second_process_on_the_folder_is_refused(tmp_path, capsys, no_work):
    with OutputDirectory(tmp_path / "r", RUN_FILES):
        assert run(tmp_path / "r") == 2
    assert f"another chipsim process (pid {os.getpid()}) is writing" in capsys.readouterr().err
    assert not (tmp_path / "r" / LOCK).exists()      # released and removed


def test_map_does_not_replace_a_runs_figure(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", EXAMPLE, "--out", str(out), "--set", "learning.epochs=1"]) == 0
    figure = (out / "memory_per_core.png").read_bytes()
    assert main(["map", str(out), "--out", str(out)]) == 2
    assert "holds the results of an earlier run (memory_per_core.png)" in capsys.readouterr().err
    assert (out / "memory_per_core.png").read_bytes() == figure


def test_stale_temporary_files_of_chipsim_are_removed(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / ".report.json.k2j3.tmp").write_text("a killed write")
    (out / ".notes.txt.k2j3.tmp").write_text("not chipsim's")
    assert run(out) == 0
    assert not (out / ".report.json.k2j3.tmp").exists()
    assert (out / ".notes.txt.k2j3.tmp").exists()


@pytest.mark.parametrize("template, expect", [
    ("runs/{nme}", "uses ['nme']"), ("runs/{", "is not a valid template"),
    ("runs/{name.__class__}", "uses ['name.__class__']")])
def test_bad_output_dir_templates_are_refused(tmp_path, capsys, no_work, template, expect):
    assert main(["run", EXAMPLE, "--set", f"output.dir={tmp_path}/{template}", *QUICK]) == 2
    err = capsys.readouterr().err
    assert "problem in the config\n  output.dir: '" in err and expect in err


def test_a_run_writes_only_the_files_it_may_remove(tmp_path):
    """RUN_FILES lists everything a run writes (so --overwrite clears a whole run)."""
    out = tmp_path / "r"
    assert main(["run", EXAMPLE, "--out", str(out), "--set", "learning.epochs=1",
                 "--set", "output.record=[spikes, membrane]"]) == 0
    written = {p.name for p in out.iterdir()}
    assert written <= set(RUN_FILES) and "spike_raster.png" in written


def test_the_default_folder_moves_beside_an_earlier_run(tmp_path, capsys):
    """Without --out the README's command can run again: runs/<name>_2, never over the first
    run; --overwrite replaces the first."""
    template = ["--set", f"output.dir={tmp_path}/runs/{{name}}", *QUICK]
    first, second = tmp_path / "runs" / "digits_ottt", tmp_path / "runs" / "digits_ottt_2"
    assert main(["run", EXAMPLE, *template]) == 0
    kept = snapshot(first)
    assert main(["run", EXAMPLE, *template, "--set", "seed=1"]) == 0
    assert f"{first} holds an earlier run: this one goes to {second}" in capsys.readouterr().out
    assert snapshot(first) == kept and (second / "report.json").exists()
    assert main(["run", EXAMPLE, *template, "--set", "seed=1", "--overwrite"]) == 0
    assert snapshot(first)["weights.npz"] == snapshot(second)["weights.npz"] != kept["weights.npz"]
    assert not (tmp_path / "runs" / "digits_ottt_3").exists()


@pytest.mark.parametrize("code, advice", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EROFS, "a read-only file system")])
def test_file_system_refusals_while_writing_are_clear_messages(tmp_path, capsys, monkeypatch,
                                                               code, advice):
    """A full disk or a file system that turns read-only during the run: exit 2 and a line
    naming the file, not an internal error."""
    from chipsim.report import writer

    def refuse(path, data):
        raise OSError(code, os.strerror(code), str(path))
    monkeypatch.setattr(writer, "atomic_write_bytes", refuse)
    assert run(tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chipsim: error: '{tmp_path / 'r'}") and advice in err
    assert "internal error" not in err and "Traceback" not in err


def test_running_out_of_memory_is_exit_3(tmp_path, capsys, monkeypatch):
    from chipsim import simulation

    def exhausted(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(simulation.Simulation, "train", exhausted)
    assert run(tmp_path / "r") == 3
    err = capsys.readouterr().err
    assert "ran out of memory" in err and "Traceback" not in err
