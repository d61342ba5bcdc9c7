"""A user's data in an npz file: x, y and optionally x_test, y_test."""
import numpy as np

from chipsim.data import Dataset, stratified_split
from chipsim.errors import DataError
from chipsim.mapping.network import read_npz
from chipsim.seeding import stream


def load_npz(path: str, test_fraction: float, timesteps: int, seed: int) -> Dataset:
    """x: (N, in) static or (N, T, in) pre-encoded (T must equal data.timesteps); y: (N,) int.
    Integer and boolean x keep their type (uint8 spikes stay 1 byte each); real x is float64.

    Without x_test/y_test a stratified seeded ``test_fraction`` is split off.
    """
    arrays = read_npz(path, "data file", mapped=True)
    where = f"data file '{path}'"
    for key in ("x", "y"):
        if key not in arrays:
            raise DataError(f"{where}: missing array '{key}' (needs x: (N, in) or (N, T, in), "
                            f"y: (N,) int labels; has {', '.join(sorted(arrays)) or 'none'})")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{where}: x_test and y_test come together; only one is present")
    x, y = _checked(arrays, "x", "y", where, timesteps)
    if "x_test" in arrays:
        x_test, y_test = _checked(arrays, "x_test", "y_test", where, timesteps)
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(f"{where}: x_test has shape {x_test.shape}, x has {x.shape}; "
                            "they must agree after the first axis")
        x_train, y_train = x, y
    else:
        train, test = stratified_split(y, test_fraction, stream(seed, "split"))
        if len(test) == 0 or len(train) == 0:
            raise DataError(f"{where}: {len(y)} samples are too few to split off "
                            f"test_fraction {test_fraction}; provide x_test and y_test")
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    return Dataset(str(path), x_train, y_train, x_test, y_test, n_classes)


def _checked(arrays, xk, yk, where, timesteps):
    x, y = arrays[xk], arrays[yk]
    real = (np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating)
            or x.dtype == np.bool_)
    if x.ndim not in (2, 3) or not real or x.shape[-1] == 0:
        raise DataError(f"{where}: '{xk}' has shape {x.shape} and dtype {x.dtype}; expected "
                        "real numbers shaped (N, in) or (N, T, in) with at least one input")
    if np.issubdtype(x.dtype, np.inexact) and not np.all(np.isfinite(x)):  # ints are finite
        raise DataError(f"{where}: '{xk}' holds NaN or inf values")
    if x.ndim == 3 and x.shape[1] != timesteps:
        raise DataError(f"{where}: '{xk}' is pre-encoded with T = {x.shape[1]} steps "
                        f"(shape {x.shape}) but data.timesteps is {timesteps}; set "
                        f"data.timesteps: {x.shape[1]}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: '{yk}' has shape {y.shape} and dtype {y.dtype}; expected "
                        f"integer labels shaped ({len(x)},), one per sample of '{xk}'")
    if len(y) == 0:
        raise DataError(f"{where}: '{xk}' holds no samples")
    if y.min() < 0:
        raise DataError(f"{where}: '{yk}' holds negative labels (min {y.min()}); labels are "
                        "class indices 0..C-1")
    # spikes and other integers stay in their narrow type (an (N, T, in) uint8 spike file as
    # float64 would take 8x its size); real values become float64, exactly
    if x.dtype == np.bool_:
        x = x.view(np.uint8)
    elif not np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float64)
    return x, y.astype(np.int64)
