"""The folder a run (or a mapping) writes, claimed before any work.

Claiming creates the folder, proves it writable by creating a lock file in it, and locks it
against a second chipsim process (an advisory ``flock``: the system releases it when the
process ends, however it ends). A folder that holds an earlier run's results is refused
unless the user asks to continue it (``--resume``) or to replace it (``--overwrite``, which
removes that run's files and nothing else). Only files chipsim writes are ever removed: the
results named here, and the temporary files a killed atomic write left behind
(``.NAME.XXXX.tmp``, see report/writer.py).
"""
from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from chipsim.errors import ConfigError

# what a run directory holds (runner.run and Simulation.save; tests/test_output_dir.py checks
# that a run writes nothing else)
RUN_FILES = ("report.json", "summary.md", "weights.npz", "weights.yaml", "metrics.csv",
             "record.npz", "checkpoint.npz", "learning_curve.png", "energy_breakdown.png",
             "memory_per_core.png", "cycles_per_phase.png", "memory_vs_T.png",
             "spike_raster.png")
MAP_FILES = ("mapping.json", "mapping.md", "memory_per_core.png")
LOCK = ".chipsim.lock"


class OutputDirectory:
    """``with OutputDirectory(path, RUN_FILES, option="--out") as out:`` claims ``path`` (see
    the module docstring) or raises ConfigError naming it, the reason and what would do;
    ``resume``: the folder must hold an interrupted run, which is continued."""

    def __init__(self, path, files: tuple[str, ...], *, option: str = "--out",
                 resume: bool = False, overwrite: bool = False):
        self.path, self.files, self.option = path, files, option
        self.resume, self.overwrite = resume, overwrite
        self._lock = None
        self._created: list[Path] = []  # folders this claim made, deepest first

    def __enter__(self) -> Path:
        out = _checked_path(self.path, self.option)
        self._created = [p for p in (out, *out.parents) if not p.exists()]
        try:
            out.mkdir(parents=True, exist_ok=True)
            lock = open(out / LOCK, "a+")
        except OSError as exc:
            raise ConfigError(f"{self.option} '{out}': cannot write there ({_reason(exc)}); "
                              "give a folder you can write to (it is created)") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            owner = lock.read().strip() or "unknown"
            lock.close()
            raise ConfigError(f"{self.option} '{out}': another chipsim process (pid {owner}) "
                              "is writing to this folder; wait for it to finish or give "
                              "another folder") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._lock = lock
        try:
            self._clear(out)
        except BaseException as exc:
            self.__exit__(type(exc))
            raise
        return out

    def __exit__(self, exc_type=None, *rest) -> None:
        if self._lock is not None:
            Path(self._lock.name).unlink(missing_ok=True)
            self._lock.close()  # (closing releases the flock)
            self._lock = None
        if exc_type is not None:  # a failed run leaves no empty folder it made
            for folder in self._created:
                try:
                    folder.rmdir()
                except OSError:  # not empty (an interrupted run's checkpoint): kept
                    break

    def _clear(self, out: Path) -> None:
        """Refuse or remove an earlier run's results; remove stale temporary files."""
        for name in self.files:
            for stale in out.glob(f".{name}.*.tmp"):
                stale.unlink(missing_ok=True)
        if self.resume:
            return
        found = results_in(out, self.files)
        if not found:
            return
        if self.overwrite:
            for name in found:
                (out / name).unlink()
            return
        interrupted = "checkpoint.npz" in found
        shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
        raise ConfigError(
            f"{self.option} '{out}' holds the results of an earlier "
            f"{'interrupted run' if interrupted else 'run'} ({shown}); "
            + ("continue it with --resume, " if interrupted else "")
            + "replace it with --overwrite (removes those files only), or give another "
            f"{self.option}")


def results_in(folder: Path, files: tuple[str, ...]) -> list[str]:
    """The names of ``files`` present in ``folder`` (an earlier run's results)."""
    return [name for name in files if (Path(folder) / name).exists()]


def unused_variant(path, files: tuple[str, ...]) -> Path:
    """``path``, or when it holds results, the first of ``path_2``, ``path_3``, ... that
    holds none (how a default output folder avoids an earlier run, as Lightning's
    version_N folders do)."""
    path, n = Path(path), 2
    candidate = path
    while candidate.is_dir() and results_in(candidate, files):
        candidate, n = path.with_name(f"{path.name}_{n}"), n + 1
    return candidate


def _checked_path(path, option: str) -> Path:
    """``path`` as a folder chipsim may create, or ConfigError saying why not."""
    if path is None or not str(path).strip():
        raise ConfigError(f"{option}: an empty path; give a folder (it is created)")
    out = Path(path)
    if out.is_symlink() and not out.exists():
        raise ConfigError(f"{option} '{out}' is a symbolic link to '{os.readlink(out)}', which "
                          "does not exist; give an existing folder or a new path")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} '{out}' is a file, not a folder; give a folder (it is "
                          "created)")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"{option} '{out}': '{parent}' is a file, so no folder can be "
                              "made under it")
    return out


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)
