"""How much memory this process can still allocate, and refusing work that needs more.

The smallest of: the memory the system reports available (``MemAvailable``: free plus
reclaimable caches), what is left under the container's cgroup limit, and what is left under
the process's address-space and data rlimits. Physical memory alone would let a job start that
the kernel's OOM killer then ends (taking other jobs with it).
"""
from __future__ import annotations

import os
import resource
from pathlib import Path

from chipsim.errors import TooLargeError


def available_bytes() -> tuple[int, str]:
    """(bytes this process can still allocate, which limit that is)."""
    limits = []
    meminfo = _read_kib("/proc/meminfo", "MemAvailable:")
    if meminfo is not None:
        limits.append((meminfo, "available memory (MemAvailable)"))
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:
            limits.append((max(0, limit - usage), "the container's memory limit (cgroup)"))
    vm_size = _read_kib("/proc/self/status", "VmSize:")
    for which, name in ((resource.RLIMIT_AS, "the address-space limit (ulimit -v)"),
                        (resource.RLIMIT_DATA, "the data-size limit (ulimit -d)")):
        soft = resource.getrlimit(which)[0]
        if soft != resource.RLIM_INFINITY:
            limits.append((max(0, soft - (vm_size or 0)), name))
    if not limits:
        try:
            limits.append((os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                           "physical memory"))
        except (ValueError, OSError, AttributeError):
            return 1 << 40, "unknown (assumed 1 TiB)"
    return min(limits)


def require(need: int, what: str, advice: str) -> None:
    """TooLargeError (exit 3) when ``need`` bytes exceed what is available, said with both
    numbers and the limit that binds."""
    have, limit = available_bytes()
    if need > have:
        raise TooLargeError(f"{what} needs about {gib(need)} of memory; {gib(have)} is left "
                            f"under {limit}; {advice}")


def gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_kib(path: str, key: str) -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
