"""Fixed-point number formats and the integer operations the chip is built from.

A ``Format`` is a two's-complement integer of ``bits`` bits (signed or unsigned) read as
``int * 2**-frac``. Every state variable of the chip has one (see ``chip.formats``). All chip
arithmetic is on int64 values; widths are checked at set-up so no int64 product overflows.

Each operation exists twice: a numba scalar function used inside kernels and a numpy array
function used by the reference twins. The pairs are compared bit for bit in the tests.

Rounding of a right shift by n bits (a division by 2**n; n <= 0 is an exact left shift):
  floor       x >> n                         (arithmetic shift: towards -inf)
  nearest     (x + 2**(n-1)) >> n            (half rounds up)
  stochastic  (x + r) >> n, r uniform in [0, 2**n) from the core's generator: unbiased
"""
from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

FLOOR, NEAREST, STOCHASTIC = 0, 1, 2
ROUNDING = {"floor": FLOOR, "nearest": NEAREST, "stochastic": STOCHASTIC}

# Counter-based generator constants (splitmix64, Steele et al. 2014): a draw depends only on
# (key, counter), so the numba kernels and the numpy twins get identical bits in any order.
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


@dataclass(frozen=True)
class Format:
    """A fixed-point format: ``bits`` wide, ``frac`` fractional bits, signed or unsigned."""

    bits: int
    frac: int
    signed: bool = True

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def lsb(self) -> float:
        """The real value of one least significant bit."""
        return 2.0 ** -self.frac

    def to_real(self, ints) -> np.ndarray:
        return np.asarray(ints, dtype=np.float64) * self.lsb

    def quantize(self, real) -> tuple[np.ndarray, int]:
        """Nearest representable integers (half away from zero), saturated; and how many saturated."""
        x = np.asarray(real, dtype=np.float64) * 2.0 ** self.frac
        scaled = np.sign(x) * np.floor(np.abs(x) + 0.5)
        clipped = np.clip(scaled, self.lo, self.hi)
        return clipped.astype(np.int64), int(np.count_nonzero(clipped != scaled))

    def describe(self) -> str:
        kind = "s" if self.signed else "u"
        return f"{kind}{self.bits}.{self.frac} (lsb {self.lsb:.3g}, range [{self.lo * self.lsb:.4g}, {self.hi * self.lsb:.4g}])"


# ----------------------------------------------------------------------------- numba scalars
@nb.njit(cache=True)
def mix64(z):
    """splitmix64 finalizer of a uint64: a well-mixed 64-bit hash."""
    z = z + _GAMMA
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@nb.njit(cache=True)
def random_bits(key, counter, n):
    """n (1..62) uniform random bits for draw number ``counter`` of the generator ``key``."""
    return np.int64(mix64(key ^ (np.uint64(counter) * _GAMMA)) >> np.uint64(64 - n))


@nb.njit(cache=True)
def shift_round(x, n, mode, key, counter):
    """x / 2**n rounded per ``mode``; n <= 0 is exact (a left shift). ``counter`` is used only
    by stochastic rounding, which the caller then advances by one."""
    if n <= 0:
        return x << -n
    if mode == FLOOR:
        return x >> n
    if mode == NEAREST:
        return (x + (np.int64(1) << (n - 1))) >> n
    return (x + random_bits(key, counter, n)) >> n


@nb.njit(cache=True)
def clamp(x, lo, hi):
    """Saturate x to [lo, hi]; the caller counts an overflow when the result differs from x."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


# ----------------------------------------------------------------------------- numpy twins
def mix64_np(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.uint64) + _GAMMA
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


def random_bits_np(key, counters: np.ndarray, n: int) -> np.ndarray:
    counters = np.asarray(counters, dtype=np.uint64)
    return (mix64_np(np.uint64(key) ^ (counters * _GAMMA)) >> np.uint64(64 - n)).astype(np.int64)


def shift_round_np(x: np.ndarray, n: int, mode: int, key=0, counters=None) -> np.ndarray:
    """Array twin of ``shift_round``; stochastic mode takes one counter per element."""
    x = np.asarray(x, dtype=np.int64)
    if n <= 0:
        return x << -n
    if mode == FLOOR:
        return x >> n
    if mode == NEAREST:
        return (x + (1 << (n - 1))) >> n
    return (x + random_bits_np(key, counters, n)) >> n


def clamp_np(x: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, int]:
    """Saturate to [lo, hi]; returns (values, number of elements that overflowed)."""
    clipped = np.clip(x, lo, hi)
    return clipped, int(np.count_nonzero(clipped != x))
