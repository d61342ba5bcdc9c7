"""Generated and locally read data sets: Yin-Yang, Spiking Randman, MNIST-1D, Fashion-MNIST,
and the latency encoder. Default sizes throughout, so the suite's timings show the load cost."""
import gzip

import numpy as np
import pytest

from chipsim.data.fashion_mnist import (DEFAULT_ROOT, FILES, installed, load_fashion_mnist,
                                        read_idx)
from chipsim.data.latency import latency_encode
from chipsim.data.mnist1d import load_mnist1d, templates
from chipsim.data.randman import load_randman
from chipsim.data.yinyang import load_yinyang, yinyang_class
from chipsim.errors import DataError


def _same(a, b):
    return all(np.array_equal(getattr(a, k), getattr(b, k))
               for k in ("x_train", "y_train", "x_test", "y_test"))


def _check_types(ds, name, n_classes):
    assert ds.name == name and ds.n_classes == n_classes
    assert ds.x_train.dtype == ds.x_test.dtype == np.float64
    assert ds.y_train.dtype == ds.y_test.dtype == np.int64
    assert len(ds.x_train) == len(ds.y_train) and len(ds.x_test) == len(ds.y_test)


# --- Yin-Yang -------------------------------------------------------------------------------

def test_yinyang_shapes_determinism_and_balance():
    a, b, c = load_yinyang(0), load_yinyang(0), load_yinyang(1)
    _check_types(a, "yinyang", 3)
    assert a.x_train.shape == (5000, 4) and a.x_test.shape == (1000, 4)
    assert _same(a, b) and not np.array_equal(a.x_train, c.x_train)
    for x, y in ((a.x_train, a.y_train), (a.x_test, a.y_test)):
        assert np.array_equal(x[:, 2:], 1.0 - x[:, :2])  # mirrored inputs
        assert np.all(np.hypot(x[:, 0] - 0.5, x[:, 1] - 0.5) <= 0.5)  # inside the big circle
        assert np.array_equal(yinyang_class(x[:, 0], x[:, 1]), y)  # labels are the geometry's
        # a class per sample is drawn uniformly: each class within 1/3 +- 0.05 of the set
        assert np.all(np.abs(np.bincount(y, minlength=3) / len(y) - 1 / 3) < 0.05)


def test_yinyang_geometry_on_a_grid():
    c = (np.arange(200) + 0.5) / 200
    x, y = np.meshgrid(c, c, indexing="ij")
    k = yinyang_class(x, y)
    inside = np.hypot(x - 0.5, y - 0.5) <= 0.5
    frac = np.bincount(k[inside], minlength=3) / inside.sum()
    dots = 2 * np.pi * 0.1 ** 2 / (np.pi * 0.5 ** 2)  # 0.08 of the big circle
    assert frac[0] == frac[1]  # yin and yang have equal areas
    assert abs(frac[2] - dots) < 0.002 and abs(frac[0] - (1 - dots) / 2) < 0.002
    # point symmetry about the centre swaps classes 0 and 1 and keeps the dots
    mirrored = yinyang_class(1 - x, 1 - y)
    assert np.array_equal(mirrored[inside], np.where(k == 2, 2, 1 - k)[inside])


@pytest.mark.parametrize("point, cls", [
    ((0.25, 0.5), 2), ((0.75, 0.5), 2),   # dot centres, on the horizontal mid-line
    ((0.5, 0.9), 1), ((0.5, 0.1), 0),     # top and bottom halves
    ((0.25, 0.35), 1), ((0.1, 0.5), 1),   # around the left dot: class 1 reaches below
    ((0.75, 0.65), 0), ((0.9, 0.5), 0),   # around the right dot: class 0 reaches above
])
def test_yinyang_known_points(point, cls):
    assert yinyang_class(*point) == cls


# --- Spiking Randman ------------------------------------------------------------------------

def test_randman_default_shapes_one_spike_per_unit_and_balance():
    ds = load_randman(0)
    _check_types(ds, "randman", 10)
    assert ds.pre_encoded and ds.x_train.shape == (8000, 100, 100)
    assert ds.x_test.shape == (2000, 100, 100)
    for x in (ds.x_train, ds.x_test):
        # every unit fires exactly once per sample: each (sample, unit) sums to 1 over time
        # and there is one non-zero per (sample, unit), so that value is 1
        assert np.all(x.sum(axis=1) == 1) and np.count_nonzero(x) == x.shape[0] * x.shape[2]
    assert list(np.bincount(ds.y_train)) == [800] * 10
    assert list(np.bincount(ds.y_test)) == [200] * 10


@pytest.mark.parametrize("dim", [1, 2])
def test_randman_determinism_and_timing_range(dim):
    kw = dict(n_classes=3, n_units=20, n_steps=50, dim=dim, samples_per_class=60)
    a, b, c = load_randman(5, **kw), load_randman(5, **kw), load_randman(6, **kw)
    assert _same(a, b) and not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.shape == (144, 50, 20) and a.x_test.shape == (36, 50, 20)
    x = np.concatenate([a.x_train, a.x_test])
    y = np.concatenate([a.y_train, a.y_test])
    steps = x.argmax(axis=1)  # (N, units) spike step
    for k in range(3):  # each unit is rescaled over its class: earliest step 0, latest T-1
        assert np.all(steps[y == k].min(axis=0) == 0) and np.all(steps[y == k].max(axis=0) == 49)


def test_randman_rejects_bad_arguments():
    with pytest.raises(DataError, match="test_fraction"):
        load_randman(0, samples_per_class=10, test_fraction=1.0)
    with pytest.raises(DataError, match="at least 1"):
        load_randman(0, dim=0)


# --- MNIST-1D -------------------------------------------------------------------------------

def test_mnist1d_shapes_determinism_balance_and_scale():
    a, b, c = load_mnist1d(0), load_mnist1d(0), load_mnist1d(1)
    _check_types(a, "mnist1d", 10)
    assert a.x_train.shape == (4000, 40) and a.x_test.shape == (1000, 40)
    assert _same(a, b) and not np.array_equal(a.x_train, c.x_train)
    assert list(np.bincount(a.y_train)) == [400] * 10 and list(np.bincount(a.y_test)) == [100] * 10
    x = np.concatenate([a.x_train, a.x_test])
    assert abs(x.mean()) < 1e-12 and abs(x.std() - 1) < 1e-12  # standardized as a whole


def test_mnist1d_templates():
    t = templates()
    assert t.shape == (10, 12) and np.all(t[:, 0] == 0)
    assert np.allclose(t.std(axis=1), 1 / 6)
    assert len({tuple(np.round(row, 9)) for row in t}) == 10  # ten distinct digits


# --- Fashion-MNIST --------------------------------------------------------------------------

def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    dims = np.array(arr.shape, dtype=">u4").tobytes()
    return bytes([0, 0, code, arr.ndim]) + dims + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def test_read_idx_plain_and_gzip(tmp_path):
    img = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(_idx_bytes(img, 0x08))
    (tmp_path / "a.gz").write_bytes(gzip.compress(_idx_bytes(img, 0x08)))
    assert np.array_equal(read_idx(tmp_path / "a"), img)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), img)
    ints = np.array([-5, 70000, 3], dtype=np.int32)
    (tmp_path / "i").write_bytes(_idx_bytes(ints, 0x0C))
    got = read_idx(tmp_path / "i")
    assert got.dtype == np.int32 and list(got) == [-5, 70000, 3]
    floats = np.array([[0.5, -1.25]])
    (tmp_path / "f").write_bytes(_idx_bytes(floats, 0x0E))
    assert np.array_equal(read_idx(tmp_path / "f"), floats)


def test_read_idx_rejects_corrupt_files(tmp_path):
    good = _idx_bytes(np.zeros((4, 5), dtype=np.uint8), 0x08)
    cases = {
        "truncated": (good[:-3], "truncated"),
        "header": (good[:6], "header"),
        "trailing": (good + b"\x00", "truncated or corrupt"),
        "magic": (b"\x12\x34" + good[2:], "magic"),
        "code": (good[:2] + b"\x07" + good[3:], "type code"),
        "gz": (gzip.compress(good)[:-10], "decompress"),
        "empty": (b"", "magic"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=message):
            read_idx(tmp_path / name)
    with pytest.raises(DataError, match="cannot be read"):
        read_idx(tmp_path / "absent")


def test_fashion_mnist_missing_files_name_the_package(tmp_path):
    with pytest.raises(DataError, match="apt-get install -y dataset-fashion-mnist"):
        load_fashion_mnist(root=tmp_path)


def test_fashion_mnist_small_synthetic_root(tmp_path):
    rng = np.random.default_rng(0)
    for key, stem in FILES.items():
        n = 6 if "train" in key else 3
        arr = (rng.integers(0, 256, (n, 28, 28)) if key.startswith("x")
               else np.arange(n) % 10).astype(np.uint8)
        (tmp_path / (stem + ".gz")).write_bytes(gzip.compress(_idx_bytes(arr, 0x08)))
    ds = load_fashion_mnist(root=tmp_path)
    small = load_fashion_mnist(root=tmp_path, downsample=True)
    assert ds.x_train.shape == (6, 784) and ds.x_test.shape == (3, 784)
    assert small.x_train.shape == (6, 196)
    img = ds.x_train[0].reshape(28, 28)
    assert np.isclose(small.x_train[0, 0], img[:2, :2].mean())
    assert np.isclose(small.x_train[0, 195], img[26:, 26:].mean())


@pytest.mark.skipif(not installed(),
                    reason=f"Fashion-MNIST files not in {DEFAULT_ROOT}: "
                           "apt-get install -y dataset-fashion-mnist")
def test_fashion_mnist_real_files():
    ds = load_fashion_mnist()
    _check_types(ds, "fashion_mnist", 10)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert list(np.bincount(ds.y_train)) == [6000] * 10
    assert list(np.bincount(ds.y_test)) == [1000] * 10


# --- latency encoder ------------------------------------------------------------------------

def test_latency_one_spike_per_positive_input_ordered_by_value():
    x = np.array([[1.0, 0.75, 0.5, 0.25, 1e-9, 0.0, -0.5, 3.0]])
    s = latency_encode(x, 4)
    assert s.shape == (1, 4, 8) and s.dtype == np.float64 and set(np.unique(s)) <= {0.0, 1.0}
    counts = s.sum(axis=1)[0]
    assert list(counts) == [1, 1, 1, 1, 1, 0, 0, 1]  # zero and negative never spike
    assert list(s[0].argmax(axis=0)[:5]) == [0, 1, 2, 3, 3]  # t = floor((1 - v) T)
    assert s[0, 0, 7] == 1  # above 1 clips to 1


def test_latency_larger_values_never_later():
    x = np.random.default_rng(0).random((50, 30))
    s = latency_encode(x, 20)
    assert np.all(s.sum(axis=1) == 1)
    t = s.argmax(axis=1)
    order = np.argsort(x, axis=1)
    assert np.all(np.diff(np.take_along_axis(t, order, axis=1), axis=1) <= 0)


def test_latency_rejects_bad_input():
    with pytest.raises(DataError, match="shape"):
        latency_encode(np.zeros(3), 5)
    with pytest.raises(DataError, match="timesteps"):
        latency_encode(np.zeros((1, 3)), 0)
    with pytest.raises(DataError, match="NaN"):
        latency_encode(np.array([[np.nan]]), 5)
