"""MNIST-1D (Greydanus 2020, "Scaling down deep learning", arXiv 2011.14439; reference code
``greydanus/mnist1d``).

The generator is re-implemented, vectorized, with the reference's default arguments: the ten
published 12-point digit templates (whitened, shifted to start at 0, divided by 6), then per
sample: pad with 36..60 zeros and linearly stretch to 72 points, scale by 1 + 0.4 (U - 0.5),
circularly shift by 0..47 points, fill the zero positions with correlated noise (N(0, 0.25^2)
smoothed by a Gaussian of sigma 2 points), add iid N(0, 0.02^2) noise, shear by subtracting
0.75 (U - 0.5) * linspace(-0.5, 0.5), and linearly resample to 40 points. Finally the whole set
is centred and scaled to unit standard deviation (as the reference, with train and test together).

Deviations from the reference generator: random numbers come from our seeded streams (one per
transformation) instead of NumPy's global seed 42, so the arrays are not the published
``mnist1d_data.pkl``; the train/test split is stratified (exactly ``train_fraction`` of each
class, half rounding to test) instead of cutting a shuffled list; the ``shuffle_seq`` option is
not offered.
"""
import numpy as np
from scipy.ndimage import gaussian_filter1d

from chipsim.data import Dataset, stratified_split
from chipsim.errors import DataError
from chipsim.seeding import stream

TEMPLATES = np.array([
    [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
    [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
    [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
    [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
    [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
    [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
    [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
    [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
])
PADDING = (36, 60)
LENGTH = 12 + PADDING[1]  # 72 points after padding and stretching
FINAL_LENGTH = 40


def templates() -> np.ndarray:
    """(10, 12) digit templates: whitened per row, shifted to start at 0, divided by 6."""
    x = TEMPLATES - TEMPLATES.mean(axis=1, keepdims=True)
    x /= x.std(axis=1, keepdims=True)
    return (x - x[:, :1]) / 6.0


def _stretch(x: np.ndarray, lengths: np.ndarray, n_out: int) -> np.ndarray:
    """Linear resampling of row r's first lengths[r] points onto n_out evenly spaced points."""
    pos = np.linspace(0.0, 1.0, n_out)[None, :] * (lengths[:, None] - 1)
    lo = np.minimum(np.floor(pos).astype(np.int64), x.shape[1] - 1)
    hi = np.minimum(lo + 1, x.shape[1] - 1)
    frac = pos - lo
    rows = np.arange(len(x))[:, None]
    return x[rows, lo] * (1.0 - frac) + x[rows, hi] * frac


def make_mnist1d(seed: int, n_samples: int = 5000):
    """x: (10 * (n_samples // 10), 40) float64 (standardized), y: int64 digits, class-ordered."""
    n_per = n_samples // 10
    y = np.repeat(np.arange(10, dtype=np.int64), n_per)
    n = len(y)
    x = np.zeros((n, LENGTH))
    x[:, :12] = templates()[y] + 1e-8
    pad = stream(seed, "mnist1d-pad").integers(PADDING[0], PADDING[1] + 1, size=n)
    x = _stretch(x, 12 + pad, LENGTH)
    x *= 1.0 + 0.4 * (stream(seed, "mnist1d-scale").random(n)[:, None] - 0.5)
    shift = stream(seed, "mnist1d-shift").integers(0, 48, size=n)
    x = x[np.arange(n)[:, None], (np.arange(LENGTH)[None, :] - shift[:, None]) % LENGTH]
    noise = 0.25 * stream(seed, "mnist1d-corr-noise").standard_normal((n, LENGTH))
    corr = gaussian_filter1d(noise, 2.0, axis=1)
    x = np.where(x != 0, x, corr)
    x += 0.02 * stream(seed, "mnist1d-iid-noise").standard_normal((n, LENGTH))
    shear = 0.75 * (stream(seed, "mnist1d-shear").random(n)[:, None] - 0.5)
    x -= shear * np.linspace(-0.5, 0.5, LENGTH)[None, :]
    x = _stretch(x, np.full(n, LENGTH), FINAL_LENGTH)
    return (x - x.mean()) / x.std(), y


def load_mnist1d(seed: int, n_samples: int = 5000, train_fraction: float = 0.8) -> Dataset:
    """MNIST-1D: x (N, 40) float64, centred with unit standard deviation; y (N,) int64 in 0..9.

    N = 10 * (n_samples // 10) (the reference's equal class sizes); stratified seeded split
    with ``train_fraction`` of each class in train. Default: 4000 train, 1000 test.
    """
    if n_samples < 10:
        raise DataError(f"mnist1d: n_samples {n_samples} is below 10, one per class")
    if not 0.0 < train_fraction < 1.0:
        raise DataError(f"mnist1d: train_fraction {train_fraction} must lie strictly between "
                        "0 and 1")
    x, y = make_mnist1d(seed, n_samples)
    order = stream(seed, "mnist1d-order").permutation(len(y))
    x, y = x[order], y[order]
    train, test = stratified_split(y, 1.0 - train_fraction, stream(seed, "split"))
    if len(train) == 0 or len(test) == 0:
        raise DataError(f"mnist1d: {len(y)} samples are too few to split with train_fraction "
                        f"{train_fraction}; raise n_samples")
    return Dataset("mnist1d", x[train], y[train], x[test], y[test], 10)
