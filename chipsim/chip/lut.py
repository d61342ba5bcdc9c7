"""Lookup tables the chip uses instead of transcendental functions."""
import numpy as np

from chipsim.chip.formats import EXP_FRAC, EXP_LUT_RANGE


def surrogate_table(alpha: float, entries: int, range_log2: int, value_frac: int,
                    value_max: int) -> np.ndarray:
    """sigma'(z) = alpha sig(alpha z)(1 - sig(alpha z)) sampled at bin centres.

    Entry k covers z in [-R + k h, -R + (k+1) h), R = 2^range_log2, h = 2R / entries;
    values are unsigned with ``value_frac`` fraction bits, saturated at ``value_max``.
    """
    half = 2.0 ** range_log2
    h = 2 * half / entries
    z = -half + (np.arange(entries) + 0.5) * h
    sig = 1.0 / (1.0 + np.exp(-alpha * z))
    return np.minimum(np.round(alpha * sig * (1 - sig) * 2.0 ** value_frac), value_max).astype(np.int64)


def exp_table(entries: int) -> np.ndarray:
    """exp(-z) for z in [0, 16) at bin centres, unsigned Q30: the error unit's softmax."""
    h = EXP_LUT_RANGE / entries
    return np.round(np.exp(-(np.arange(entries) + 0.5) * h) * 2.0 ** EXP_FRAC).astype(np.int64)
