"""The fixed-point chip: number formats, registers and memories, numba kernels and their
numpy twins, counters. ``chipsim.chip.chip.Chip`` puts them together.

The kernels' on-disk cache is kept in a folder named after the source of this package
(``kernel_cache.cache_dir``): numba invalidates a cached kernel only when its own file
changes, not when a kernel it inlines from another file does, so without this an edited
or updated chipsim could run stale machine code. This must run before any kernel module
is imported (it is the package's ``__init__``).
"""
from chipsim.chip.kernel_cache import use_cache_dir as _use_cache_dir

_use_cache_dir()
