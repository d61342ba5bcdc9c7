"""scikit-learn's bundled 8x8 handwritten digits (1797 samples, 10 classes), no download."""
import numpy as np

from chipsim.data import Dataset, stratified_split
from chipsim.seeding import stream


def load_digits(test_fraction: float, seed: int) -> Dataset:
    """Digits scaled to [0, 1] (pixel / 16), 64 inputs, stratified seeded train/test split."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = bunch.data.astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    train, test = stratified_split(y, test_fraction, stream(seed, "split"))
    return Dataset("digits", x[train], y[train], x[test], y[test], 10)
