"""Data sets and encoders. ``load_dataset`` turns the config's data section into arrays."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chipsim.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays. x is (N, in) static (encoded per batch) or (N, T, in) pre-encoded."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_inputs(self) -> int:
        return self.x_train.shape[-1]

    @property
    def pre_encoded(self) -> bool:
        return self.x_train.ndim == 3


def load_dataset(data_cfg, seed: int) -> Dataset:
    """The data set the config names, split and checked."""
    d = data_cfg
    if d.source == "digits":
        from chipsim.data.digits import load_digits

        return load_digits(d.test_fraction, seed)
    if d.source == "yinyang":
        from chipsim.data.yinyang import load_yinyang

        return load_yinyang(seed)
    if d.source == "randman":
        from chipsim.data.randman import load_randman

        r = d.randman
        return load_randman(seed, r.classes, r.units, d.timesteps, r.dim, r.alpha,
                            r.samples_per_class, d.test_fraction)
    if d.source == "mnist1d":
        from chipsim.data.mnist1d import load_mnist1d

        return load_mnist1d(seed, train_fraction=1.0 - d.test_fraction)
    if d.source == "fashion_mnist":
        from chipsim.data.fashion_mnist import load_fashion_mnist

        return load_fashion_mnist(d.path, d.downsample)
    if d.source == "delayed_xor":
        from chipsim.data.delayed_xor import load_delayed_xor

        t = d.delayed_xor
        return load_delayed_xor(seed, d.timesteps, t.cue, t.delay, t.channels, t.rate, t.noise,
                                t.train, t.test)
    if d.source == "spoken_digits":
        from chipsim.data.spoken_digits import load_spoken_digits

        s = d.spoken_digits
        return load_spoken_digits(d.timesteps, s.channels, s.frame_ms, s.gain)
    if d.source == "npz":
        from chipsim.data.npz import load_npz

        return load_npz(d.path, d.test_fraction, d.timesteps, seed)
    raise DataError(f"data.source: unknown '{d.source}'")  # the schema prevents this


def stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """Indices (train, test): each class gives test_fraction of its samples to test (half up)."""
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(np.floor(test_fraction * len(idx) + 0.5))  # half rounds up
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
