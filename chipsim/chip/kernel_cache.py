"""Where numba keeps the chip's compiled kernels, and whether it holds them (so a run can
say it compiles).

numba compiles a kernel on its first call and, with ``cache=True``, keeps the machine code in
its cache directory. The first run in a new environment compiles everything; later runs load
it in a fraction of a second. numba checks only the kernel's own source file, so a kernel
that inlines an edited helper from another file would load stale code: the folder is named
after a digest of every kernel source of the package instead.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

# measured on the README's main job on this 2-core machine: 19-23 s cold in a quiet hour,
# 33-41 s in slow ones (bench/compile_time.py; the README's first command in a fresh clone)
COLD_START_ESTIMATE = "20-45 s on a 2-core machine"


def cache_dir() -> Path:
    """The kernel cache for this source: ``$NUMBA_CACHE_DIR`` (or the user cache folder,
    ``$XDG_CACHE_HOME/chipsim``, default ``~/.cache/chipsim``) / ``kernels-<digest>``, the
    digest of chipsim/chip/*.py. (rules/ottt_chip.py inlines kernels from there; its own edits
    numba notices.)"""
    digest = hashlib.sha1()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    base = os.environ.get("NUMBA_CACHE_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or _home() / ".cache") / "chipsim"
    return Path(base) / f"kernels-{digest.hexdigest()[:16]}"


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
    """A line to print before the first call when any of ``dispatchers`` must compile."""
    if all(is_cached(d) for d in dispatchers):
        return None
    return (f"compiling the chip's kernels (first run in this environment only, "
            f"{COLD_START_ESTIMATE}; later runs load them from numba's cache)")
