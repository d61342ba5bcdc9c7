"""Spiking Randman (Zenke & Vogels 2021, "The remarkable robustness of surrogate gradient
learning for instilling complex function in spiking neural networks", Neural Computation 33(4)).

Re-implemented from the paper and the reference ``fzenke/randman`` (torch backend, the default).
Each class k has its own random smooth manifold: a map from latent coordinates u in [0, 1]^dim to
``n_units`` values, unit j being

    f_j(u) = prod_d sum_{i=0}^{F-1} a_jdi s_i sin(2 pi (i u_d b_jdi + c_jdi)),
    s_i = 1 / ((i + 1)^alpha + 1),  F = ceil(1000^(1/alpha)) (prec 1e-3, at most 1000),

with a, b, c uniform in [0, 1) and a_jd0 = 0 (no bias). A sample draws u uniformly, evaluates
the class's manifold, rescales every unit to [0, 1) by its min and max over that class's samples
(eps 1e-7, as the reference), and fires one spike per unit at step floor(value * n_steps). Every
unit spikes exactly once in every sample, so the class is carried only by spike timing.
"""
import numpy as np

from chipsim.data import Dataset, stratified_split
from chipsim.errors import DataError
from chipsim.seeding import stream


def randman_spike_steps(params: np.ndarray, u: np.ndarray, alpha: float,
                        n_steps: int) -> np.ndarray:
    """Spike step (int64, 0..n_steps-1) of each unit: (S, units), for latent u (S, dim).

    params: (units, dim, 3, F) amplitudes a, frequency factors b and phases c, each in [0, 1).
    """
    f = params.shape[-1]
    i = np.arange(f, dtype=np.float64)
    s = 1.0 / ((i + 1.0) ** alpha + 1.0)
    a, b, c = params[:, :, 0], params[:, :, 1], params[:, :, 2]  # (units, dim, F)
    phase = 2 * np.pi * (i * u[:, None, :, None] * b + c)  # (S, units, dim, F)
    value = np.prod(np.sum(a * s * np.sin(phase), axis=-1), axis=-1)  # (S, units)
    lo, hi = value.min(axis=0), value.max(axis=0)
    scaled = (value - lo) / (hi - lo + 1e-7)
    return np.minimum(np.floor(scaled * n_steps), n_steps - 1).astype(np.int64)


def _raster(steps: np.ndarray, n_steps: int) -> np.ndarray:
    """(N, units) spike steps -> (N, n_steps, units) float64 raster with one 1.0 per unit."""
    n, units = steps.shape
    x = np.zeros((n, n_steps, units))
    x[np.arange(n)[:, None], steps, np.arange(units)[None, :]] = 1.0
    return x


def load_randman(seed: int, n_classes: int = 10, n_units: int = 100, n_steps: int = 100,
                 dim: int = 1, alpha: float = 2.0, samples_per_class: int = 1000,
                 test_fraction: float = 0.2) -> Dataset:
    """Spiking Randman, pre-encoded: x (N, n_steps, n_units) float64 0/1, y (N,) int64.

    N = n_classes * samples_per_class, split stratified and seeded (``test_fraction`` of each
    class to test). Time is in simulation steps; each unit fires once per sample. At the default
    sizes x takes 800 MB in float64 (8e6 values per 1000 samples).
    """
    if min(n_classes, n_units, n_steps, dim, samples_per_class) < 1 or not alpha > 0:
        raise DataError(f"randman: n_classes ({n_classes}), n_units ({n_units}), n_steps "
                        f"({n_steps}), dim ({dim}) and samples_per_class ({samples_per_class}) "
                        f"must be at least 1 and alpha ({alpha}) positive")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"randman: test_fraction {test_fraction} must lie strictly between 0 "
                        "and 1")
    n_freq = int(min(np.ceil(1e-3 ** (-1.0 / alpha)), 1000))
    steps, labels = [], []
    for k in range(n_classes):
        params = stream(seed, "randman-manifold", k).random((n_units, dim, 3, n_freq))
        params[:, :, 0, 0] = 0.0
        u = stream(seed, "randman-latent", k).random((samples_per_class, dim))
        steps.append(randman_spike_steps(params, u, alpha, n_steps))
        labels.append(np.full(samples_per_class, k, dtype=np.int64))
    order = stream(seed, "randman-order").permutation(n_classes * samples_per_class)
    steps, y = np.concatenate(steps)[order], np.concatenate(labels)[order]
    train, test = stratified_split(y, test_fraction, stream(seed, "split"))
    if len(train) == 0 or len(test) == 0:
        raise DataError(f"randman: {samples_per_class} samples per class are too few to split "
                        f"off test_fraction {test_fraction}; raise samples_per_class")
    return Dataset("randman", _raster(steps[train], n_steps), y[train],
                   _raster(steps[test], n_steps), y[test], n_classes)
