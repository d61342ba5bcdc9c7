"""Where numba keeps the chip's compiled kernels, and whether it holds them (so a run can
say it compiles, and how long that took).

numba compiles a kernel on its first call and, with ``cache=True``, keeps the machine code in
its cache directory. The first run in a new environment compiles everything; later runs load
it in a fraction of a second. numba checks only the kernel's own source file, so a kernel
that inlines an edited helper from another file would load stale code: the folder is named
after a digest of every kernel source of the package instead.

A run measures its compile time (numba's compile events) and keeps the last one beside the
kernel folders, so the next cold start (a new environment's first run, or new kernel sources)
can say how long it will take on this machine.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

# before any compile was measured here: the README's main job on a 2-core machine took 19-23 s
# cold in a quiet hour, 33-41 s in slow ones (bench/compile_time.py)
COLD_START_ESTIMATE = "20-45 s on a 2-core machine"
LAST_COMPILE_FILE = "last_compile_seconds"


def cache_dir() -> Path:
    """The kernel cache for this source: ``$NUMBA_CACHE_DIR`` (or the user cache folder,
    ``$XDG_CACHE_HOME/chipsim``, default ``~/.cache/chipsim``) / ``kernels-<digest>``, the
    digest of chipsim/chip/*.py. (rules/ottt_chip.py inlines kernels from there; its own edits
    numba notices.)"""
    digest = hashlib.sha1()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return cache_base() / f"kernels-{digest.hexdigest()[:16]}"


def cache_base() -> Path:
    """The folder that holds the kernel folders (see ``cache_dir``)."""
    return Path(os.environ.get("NUMBA_CACHE_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or _home() / ".cache") / "chipsim")


def _home() -> Path:
    try:
        return Path.home()
    except RuntimeError:  # no home folder (a service account): the temporary folder
        return Path(tempfile.gettempdir())


def use_cache_dir() -> None:
    """Point numba's cache at ``cache_dir()`` (before any kernel is defined)."""
    import numba

    numba.config.CACHE_DIR = str(cache_dir())


def is_cached(dispatcher) -> bool:
    """True when the kernel has machine code in the cache for its current source (numba's
    own index, which it invalidates when the source file changes). Unknown: True (say
    nothing rather than something wrong)."""
    try:
        return bool(dispatcher._cache._cache_file._load_index())
    except Exception:  # numba internals moved: no notice, the run is unaffected
        return True


def compile_notice(dispatchers) -> str | None:
    """A line to print before the first call when any of ``dispatchers`` must compile: how
    long the last compile measured here took, else the estimate for a 2-core machine."""
    if all(is_cached(d) for d in dispatchers):
        return None
    last = last_compile_seconds()
    took = (f"about {max(1, round(last))} s: the last compile on this machine took {last:.1f} s"
            if last else COLD_START_ESTIMATE)
    return (f"compiling the chip's kernels (first run in this environment only, {took}; "
            "later runs load them from numba's cache)")


@contextmanager
def compile_timer():
    """Measure the seconds numba spends compiling inside the block (``.seconds``; 0.0 when
    every kernel came from the cache). Nested compiles count once."""
    from numba.core import event

    timer = SimpleNamespace(seconds=0.0)

    def add(seconds: float) -> None:
        timer.seconds += seconds

    with event.install_timer("numba:compile", add):
        yield timer


def last_compile_seconds() -> float | None:
    """The last compile time recorded here (None: none yet, or unreadable)."""
    try:
        seconds = float((cache_base() / LAST_COMPILE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return seconds if 0 < seconds < 1e5 else None


def record_compile_seconds(seconds: float) -> None:
    """Keep a measured compile time for the next notice (a read-only cache: not kept)."""
    path = cache_base() / LAST_COMPILE_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(f"{seconds:.3f}\n")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
