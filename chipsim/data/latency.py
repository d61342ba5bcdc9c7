"""Latency (time-to-first-spike) encoding: larger values spike earlier, each input at most once.

Used with static data in [0, 1] as in e.g. Göltz et al. 2021 ("Fast and energy-efficient
neuromorphic deep learning with first-spike times", Nature Machine Intelligence).
"""
import numpy as np

from chipsim.errors import DataError


def latency_encode(x: np.ndarray, timesteps: int) -> np.ndarray:
    """(B, in) values -> (B, T, in) float64 0/1 with T = ``timesteps``; deterministic.

    An input with value v > 0 spikes once, at step t = floor((1 - min(v, 1)) * T), so steps are
    equal-width value bins: v = 1 spikes at t = 0, v in (1 - (k+1)/T, 1 - k/T] at t = k, and
    values just above 0 at t = T - 1. Values <= 0 never spike; values above 1 spike at t = 0.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"latency_encode: input has shape {x.shape}; expected (B, in) static "
                        "values")
    if int(timesteps) != timesteps or timesteps < 1:
        raise DataError(f"latency_encode: timesteps {timesteps} must be a positive integer")
    if not np.all(np.isfinite(x)):
        raise DataError("latency_encode: input holds NaN or inf values")
    timesteps = int(timesteps)
    t = np.floor((1.0 - np.minimum(x, 1.0)) * timesteps)
    t = np.minimum(t, timesteps - 1).astype(np.int64)  # v just above 0 rounds to T
    out = np.zeros((x.shape[0], timesteps, x.shape[1]))
    b, i = np.nonzero(x > 0)
    out[b, t[b, i], i] = 1.0
    return out
