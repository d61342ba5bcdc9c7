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

numba compiles under one lock per process, so a second core cannot help within a process. A
cold training run compiles two entry points, the inference kernel (its epoch-0 evaluation comes
first) and the training kernel; ``compile_in_helper`` hands the second to a helper process that
writes it to the cache while this one compiles and runs the first, and the first training batch
then loads it (the first run takes about the longer of the two compiles, not their sum).
"""
from __future__ import annotations

import atexit
import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import time
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
    every kernel came from the cache), plus the time spent waiting for a helper's compile.
    Nested compiles count once."""
    from numba.core import event

    timer = SimpleNamespace(seconds=0.0)
    waited = _helper_wait[0]

    def add(seconds: float) -> None:
        timer.seconds += seconds

    with event.install_timer("numba:compile", add):
        try:
            yield timer
        finally:
            timer.seconds += _helper_wait[0] - waited


_helper_wait = [0.0]  # seconds this process has waited for helpers' compiles
HELPER = ("import sys; from chipsim.chip.kernel_cache import compile_from; "
          "compile_from(sys.stdin.buffer)")


def compile_in_helper(factory, signature) -> subprocess.Popen | None:
    """Start a helper process compiling the kernel ``factory()`` returns for ``signature``
    (numba types) into the cache; ``wait_for_helper`` before the kernel's first call here.
    None (the kernel compiles here at its first call) on a single core or when no process
    can be started. ``factory`` must pickle (a module-level function or a partial of one)."""
    if (os.cpu_count() or 1) < 2:
        return None
    try:
        job = pickle.dumps((factory, signature))
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    package_root = str(Path(__file__).resolve().parents[2])  # also when run from a checkout
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}
    try:
        helper = subprocess.Popen([sys.executable, "-c", HELPER], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        with helper.stdin:
            helper.stdin.write(job)
    except OSError:
        return None
    atexit.register(_stop, helper)  # a run that ends before its training needs no helper
    return helper


def wait_for_helper(helper: subprocess.Popen) -> None:
    """Wait until the helper has compiled (its time counts as compiling, ``compile_timer``).
    A helper that failed changes nothing: the kernel then compiles here."""
    t0 = time.perf_counter()
    helper.wait()
    _helper_wait[0] += time.perf_counter() - t0
    atexit.unregister(_stop)  # (all of them: a run waits for its one helper before any other)


def _stop(helper: subprocess.Popen) -> None:
    if helper.poll() is None:
        helper.kill()
        helper.wait()


def compile_from(stream) -> None:
    """The helper's side: compile (factory, signature) read from ``stream``; numba's
    ``cache=True`` writes the machine code to the cache."""
    factory, signature = pickle.load(stream)
    factory().compile(signature)


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
