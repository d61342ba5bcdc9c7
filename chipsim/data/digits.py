"""scikit-learn's bundled 8x8 handwritten digits (1797 samples, 10 classes), no download."""
import gzip
import importlib.util
from pathlib import Path

import numpy as np

from chipsim.data import Dataset, stratified_split
from chipsim.seeding import stream


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(pixels (1797, 64) in 0..16, labels) from the CSV file scikit-learn ships. Read
    directly: importing sklearn.datasets costs 2.5 s, a third of a warm run."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec else None
    if path is None or not path.exists():  # another layout: ask scikit-learn itself
        from sklearn.datasets import load_digits as sk_digits

        bunch = sk_digits()
        return bunch.data, bunch.target
    with gzip.open(path) as f:
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1], table[:, -1]


def load_digits(test_fraction: float, seed: int) -> Dataset:
    """Digits scaled to [0, 1] (pixel / 16), 64 inputs, stratified seeded train/test split."""
    pixels, labels = digits_arrays()
    x = pixels.astype(np.float64) / 16.0
    y = labels.astype(np.int64)
    train, test = stratified_split(y, test_fraction, stream(seed, "split"))
    return Dataset("digits", x[train], y[train], x[test], y[test], 10)
