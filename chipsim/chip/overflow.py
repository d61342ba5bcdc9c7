"""What happens when a value leaves its format's range: saturate, wrap or stop.

``chip.overflow`` sets a policy per variable kind. Every overflow is counted whatever the
policy. 'saturate' clips to the range, 'wrap' keeps the low bits (two's complement), 'error'
saturates, records the first offending (variable, layer, sample, step, value) in the
registers, and the chip raises once the batch is done.

Within one (variable, layer, sample, step) the recorded value is the largest in magnitude
(ties: the larger value), so the record does not depend on the order elements are visited.
"""
import numba as nb
import numpy as np

SATURATE, WRAP, ERROR = 0, 1, 2
POLICIES = {"saturate": SATURATE, "wrap": WRAP, "error": ERROR}
VARIABLES = ("membrane", "trace", "error", "weight", "accumulator")
MEMBRANE, TRACE, ERROR_VALUE, WEIGHT, ACCUMULATOR = range(len(VARIABLES))


@nb.njit(cache=True)
def note_overflow(r, kind, layer, x):
    """Record an overflow under the 'error' policy (called only when one happens: passing
    the registers to a function costs more than the check itself)."""
    f = r.first_overflow  # [recorded, kind, layer, sample, step, value]
    if f[0] == 0:
        f[0], f[1], f[2], f[3], f[4], f[5] = 1, kind, layer, r.clock[0], r.clock[1], x
    elif (f[1] == kind and f[2] == layer and f[3] == r.clock[0] and f[4] == r.clock[1]
          and (abs(x) > abs(f[5]) or (abs(x) == abs(f[5]) and x > f[5]))):
        f[5] = x


@nb.njit(cache=True)
def bound(x, lo, hi, mode):
    """x brought into [lo, hi] per the policy ``mode``: wrapped, or saturated ('saturate' and
    'error'). The caller counts x != result and, under 'error', calls note_overflow."""
    if lo <= x <= hi:
        return x
    if mode == WRAP:
        return (x - lo) % (hi - lo + 1) + lo
    return lo if x < lo else hi


def limit_np(m, r, x, lo, hi, kind, layer):
    """Array twin of ``limit``; returns (values, number of overflows)."""
    x = np.asarray(x, dtype=np.int64)
    over = (x < lo) | (x > hi)
    count = int(np.count_nonzero(over))
    mode = m.overflow_mode[kind]
    if mode == WRAP:
        return np.where(over, (x - lo) % (hi - lo + 1) + lo, x), count
    if mode == ERROR and count:
        values = x[over]
        top = np.abs(values).max()
        _record_np(r, kind, layer, int(values[np.abs(values) == top].max()))
    return np.clip(x, lo, hi), count


def _record_np(r, kind, layer, x):
    f = r.first_overflow
    if f[0] == 0:
        f[:] = (1, kind, layer, r.clock[0], r.clock[1], x)
    elif (tuple(f[1:5]) == (kind, layer, r.clock[0], r.clock[1])
          and (abs(x) > abs(f[5]) or (abs(x) == abs(f[5]) and x > f[5]))):
        f[5] = x
