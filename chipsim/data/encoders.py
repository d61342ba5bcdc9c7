"""Encoders: a batch of samples (B, in) to input over time (B, T, in), deterministic per seed."""
import numpy as np

from chipsim.data.latency import latency_encode


def encode(x: np.ndarray, timesteps: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """(B, in) static or (B, T, in) pre-encoded -> (B, T, in) float64.

    direct: the analog value is the input current at every step (the paper's encoding);
    rate: a spike with probability clip(x, 0, 1) at every step, drawn from ``rng``;
    latency: one spike per positive input, earlier for larger values (``latency_encode``);
    pre-encoded input (3-D) passes through unchanged whatever ``kind`` says.
    """
    if x.ndim == 3:
        return x
    if kind == "direct":
        return np.broadcast_to(x[:, None, :], (x.shape[0], timesteps, x.shape[1]))
    if kind == "rate":
        p = np.clip(x, 0.0, 1.0)
        return (rng.random((x.shape[0], timesteps, x.shape[1])) < p[:, None, :]).astype(np.float64)
    if kind == "latency":
        return latency_encode(x, timesteps)
    raise ValueError(f"unknown encoding {kind!r}")


def encoded_range(x: np.ndarray, kind: str) -> tuple[float, float, bool]:
    """(min, max, binary) of what ``encode`` emits for data ``x``: rate and latency emit
    spikes (0 or 1) whatever the values they encode; direct and pre-encoded data pass the
    values through, binary when they hold only 0 and 1."""
    if x.ndim == 2 and kind in ("rate", "latency"):
        return 0.0, 1.0, True
    lo, hi = float(x.min()), float(x.max())
    if np.issubdtype(x.dtype, np.integer):  # no (N, T, in) temporaries for a spike file
        return lo, hi, lo >= 0 and hi <= 1
    return lo, hi, bool(np.isin(x, (0.0, 1.0)).all())
