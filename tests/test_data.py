"""Data sets and encoders: shapes, determinism, stratification."""
import numpy as np

from chipsim.config import DataConfig
from chipsim.data import load_dataset, stratified_split
from chipsim.data.encoders import encode


def test_digits_shapes_scale_and_stratified_seeded_split():
    a = load_dataset(DataConfig(), seed=0)
    b = load_dataset(DataConfig(), seed=0)
    c = load_dataset(DataConfig(), seed=1)
    assert a.x_train.shape == (1346, 64) and a.x_test.shape == (451, 64) and a.n_classes == 10
    assert a.x_train.min() == 0.0 and a.x_train.max() == 1.0
    assert np.array_equal(a.y_test, b.y_test) and np.array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.y_test, c.y_test)
    counts = np.bincount(a.y_test)
    assert counts.min() >= 44 and counts.max() <= 46  # 25 % of each class of ~180


def test_stratified_split_is_a_partition():
    y = np.repeat(np.arange(3), [10, 20, 30])
    train, test = stratified_split(y, 0.3, np.random.default_rng(0))
    assert sorted(np.concatenate([train, test])) == list(range(60))
    assert list(np.bincount(y[test])) == [3, 6, 9]


def test_direct_rate_and_pass_through_encoders():
    x = np.array([[0.0, 0.25, 1.0]])
    d = encode(x, 4, "direct", None)
    assert d.shape == (1, 4, 3) and np.all(d == x[:, None, :])
    r1 = encode(np.full((200, 3), 0.25), 50, "rate", np.random.default_rng(1))
    r2 = encode(np.full((200, 3), 0.25), 50, "rate", np.random.default_rng(1))
    assert np.array_equal(r1, r2) and set(np.unique(r1)) <= {0.0, 1.0}
    assert abs(r1.mean() - 0.25) < 0.01
    pre = np.random.default_rng(0).random((2, 5, 3))
    assert encode(pre, 5, "rate", None) is pre


def test_npz_static_and_pre_encoded(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", x=rng.random((40, 3)), y=np.arange(40) % 4)
    ds = load_dataset(DataConfig(source="npz", path=str(tmp_path / "s.npz")), seed=0)
    assert ds.x_train.shape == (28, 3) and ds.x_test.shape == (12, 3) and ds.n_classes == 4
    np.savez(tmp_path / "p.npz", x=rng.random((8, 6, 3)) < 0.5, y=np.arange(8) % 2,
             x_test=rng.random((4, 6, 3)) < 0.5, y_test=np.arange(4) % 2)
    ds = load_dataset(DataConfig(source="npz", path=str(tmp_path / "p.npz")), seed=0)
    assert ds.pre_encoded and ds.x_train.shape == (8, 6, 3) and ds.x_test.shape == (4, 6, 3)


def test_digits_read_from_the_csv_equal_scikit_learns_loader():
    from sklearn.datasets import load_digits

    from chipsim.data.digits import digits_arrays

    pixels, labels = digits_arrays()
    bunch = load_digits()
    assert np.array_equal(pixels, bunch.data) and np.array_equal(labels, bunch.target)


def test_a_spike_file_keeps_its_narrow_type(tmp_path):
    """uint8 (and bool) spikes stay 1 byte per value in memory: no float64 copy of the file."""
    rng = np.random.default_rng(0)
    spikes = (rng.random((8, 5, 3)) < 0.3).astype(np.uint8)
    np.savez(tmp_path / "u.npz", x=spikes, y=np.arange(8) % 2)
    np.savez(tmp_path / "b.npz", x=spikes.astype(bool), y=np.arange(8) % 2)
    for name in ("u.npz", "b.npz"):
        ds = load_dataset(DataConfig(source="npz", path=str(tmp_path / name), timesteps=5), 0)
        assert ds.x_train.dtype == np.uint8 and ds.x_test.dtype == np.uint8
    np.savez(tmp_path / "f.npz", x=rng.random((8, 3)).astype(np.float32), y=np.arange(8) % 2)
    ds = load_dataset(DataConfig(source="npz", path=str(tmp_path / "f.npz")), 0)
    assert ds.x_train.dtype == np.float64


def test_an_uncompressed_data_file_is_mapped_not_read(tmp_path):
    """np.savez data is memory-mapped (read-only, no serial read of the whole file); the
    arrays equal numpy's reading, in C and Fortran order; compressed files are read."""
    from chipsim.mapping.network import read_npz

    rng = np.random.default_rng(0)
    arrays = {"x": (rng.random((20, 5, 7)) < 0.3).astype(np.uint8), "y": np.arange(20) % 3,
              "x_test": np.asfortranarray(rng.random((6, 5, 7))), "y_test": np.arange(6) % 3,
              "empty": np.zeros((0, 4), np.int16)}
    np.savez(tmp_path / "s.npz", **arrays)
    np.savez_compressed(tmp_path / "c.npz", **arrays)
    mapped = read_npz(tmp_path / "s.npz", "data file", mapped=True)
    read = read_npz(tmp_path / "c.npz", "data file", mapped=True)
    for key, value in arrays.items():
        for got in (mapped[key], read[key]):
            assert got.dtype == value.dtype and got.shape == value.shape
            assert np.array_equal(got, value)
    assert isinstance(mapped["x"].base, np.memmap) and not mapped["x"].flags.writeable
    assert mapped["x_test"].flags.f_contiguous and not isinstance(read["x"].base, np.memmap)
    ds = load_dataset(DataConfig(source="npz", path=str(tmp_path / "s.npz"), timesteps=5), 0)
    assert np.array_equal(ds.x_train, arrays["x"]) and np.array_equal(ds.x_test, arrays["x_test"])
