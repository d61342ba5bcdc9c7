"""Whether numba's on-disk cache holds the chip's kernels, so a run can say it compiles.

numba compiles a kernel on its first call and, with ``cache=True``, keeps the machine code in
its cache directory (``__pycache__`` beside the source, or ``NUMBA_CACHE_DIR``). The first
run in a new environment compiles everything; later runs load it in a fraction of a second.
"""
from __future__ import annotations

# measured on the README's main job: bench/compile_time.py, 16-28 s of compiling on 2 cores
COLD_START_ESTIMATE = "20-30 s on a 2-core machine"


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
