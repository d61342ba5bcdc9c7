"""The fixed-point chip: number formats, registers and memories, numba kernels and their
numpy twins, counters. ``chipsim.chip.chip.Chip`` puts them together."""
