"""Named, independent random streams derived from the one run seed.

Every random choice (data split, data order, encoders, initial weights, feedback matrices,
stochastic rounding) draws from its own stream, so adding draws to one never shifts another.
"""
import zlib

import numpy as np


def stream(seed: int, name: str, *index: int) -> np.random.Generator:
    """A generator for the purpose ``name`` (and optional indices such as an epoch number)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), *index])
