"""The Yin-Yang data set (Kriener, Göltz & Petrovici 2021, "The Yin-Yang dataset",
arXiv 2102.08211).

Re-implemented from the paper and the reference sampler's logic. Points (x, y) are uniform in
[0, 1]^2, kept only inside the big circle (centre (0.5, 0.5), radius R = 0.5). Two dots of radius
r = 0.1 sit on the horizontal mid-line at (0.25, 0.5) and (0.75, 0.5). Labels follow the
reference's numbers:

- 2 (dots): within r of either dot centre;
- 1: the upper half (y > 0.5) outside the disc of radius R/2 around the right dot centre, plus
  the disc of radius R/2 around the left dot centre (the reference code's ``is_yin`` test);
- 0: the rest of the big circle (the mirror image of class 1).

Classes 0 and 1 each cover pi/8 - pi r^2 (46 % of the big circle), the dots 2 pi r^2 (8 %). The
sampler balances classes as the reference does: each sample first draws a target class
uniformly, then points are drawn until one of that class comes up. Inputs are (x, y, 1-x, 1-y).
The reference seeds train/validation/test with 42/41/40; here every part derives from our seed.
"""
import numpy as np

from chipsim.data import Dataset
from chipsim.errors import DataError
from chipsim.seeding import stream

R_BIG = 0.5
R_SMALL = 0.1


def yinyang_class(x, y) -> np.ndarray:
    """Class (0, 1 or 2, int64) of points (x, y) in the unit square, same shape as x and y.

    Points outside the big circle still get a class (the formulas extend past it); the
    sampler never draws them.
    """
    x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    d_right = np.hypot(x - 1.5 * R_BIG, y - R_BIG)
    d_left = np.hypot(x - 0.5 * R_BIG, y - R_BIG)
    upper = ((d_right <= R_SMALL) | ((d_left > R_SMALL) & (d_left <= 0.5 * R_BIG))
             | ((y > R_BIG) & (d_right > 0.5 * R_BIG)))
    dots = (d_right < R_SMALL) | (d_left < R_SMALL)
    return np.where(dots, 2, upper.astype(np.int64)).astype(np.int64)


def sample_yinyang(n: int, seed: int, part: str):
    """``n`` class-balanced samples for ``part`` ("train", "validation", "test").

    Returns x: (n, 4) float64 (x, y, 1-x, 1-y), coordinates in [0, 1]; y: (n,) int64.
    Each part draws from its own streams, so the parts are independent of each other's sizes.
    """
    goal = stream(seed, f"yinyang-{part}-class").integers(0, 3, size=n)
    points_rng = stream(seed, f"yinyang-{part}-points")
    need = np.bincount(goal, minlength=3)
    found = [np.empty((0, 2)) for _ in range(3)]
    while any(len(found[c]) < need[c] for c in range(3)):
        p = points_rng.random((max(6 * n, 1024), 2)) * 2.0 * R_BIG
        p = p[np.hypot(p[:, 0] - R_BIG, p[:, 1] - R_BIG) <= R_BIG]
        c_of = yinyang_class(p[:, 0], p[:, 1])
        found = [np.concatenate([found[c], p[c_of == c]])[:need[c]] for c in range(3)]
    xy = np.empty((n, 2))
    for c in range(3):
        xy[goal == c] = found[c]
    return np.column_stack([xy, 1.0 - xy]), goal.astype(np.int64)


def load_yinyang(seed: int, n_train: int = 5000, n_test: int = 1000) -> Dataset:
    """Yin-Yang train and test sets: x (N, 4) float64 in [0, 1], y (N,) int64 in {0, 1, 2}.

    The standard sizes are 5000 train / 1000 validation / 1000 test; a validation set comes
    from ``sample_yinyang(1000, seed, "validation")``.
    """
    if n_train < 1 or n_test < 1:
        raise DataError(f"yinyang: n_train ({n_train}) and n_test ({n_test}) must both be at "
                        "least 1 sample")
    x_train, y_train = sample_yinyang(n_train, seed, "train")
    x_test, y_test = sample_yinyang(n_test, seed, "test")
    return Dataset("yinyang", x_train, y_train, x_test, y_test, 3)
