"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, "Fashion-MNIST: a novel image dataset for
benchmarking machine learning algorithms", arXiv 1708.07747), read from local IDX files.

Debian ships the files in the package ``dataset-fashion-mnist`` under
/usr/share/datasets/fashion-mnist (60000 train and 10000 test 28x28 grey images, 10 classes);
nothing is downloaded at run time.
"""
import gzip
import zlib
from pathlib import Path

import numpy as np

from chipsim.data import Dataset
from chipsim.errors import DataError

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
# IDX type code -> big-endian element type
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """The array in an IDX file (plain or gzip-compressed, told apart by content), native order.

    Layout: two zero bytes, a type code byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), a byte with the number of dimensions, one big-endian uint32 per
    dimension, then the elements big-endian in C order. The file must hold exactly that many.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"IDX file '{path}': cannot be read or decompressed ({e}); the file is "
                        "missing, truncated or not gzip data") from e
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise DataError(f"IDX file '{path}': bad magic number {raw[:4].hex() or 'empty'}; an "
                        "IDX file starts with two zero bytes, a type code and a dimension count")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        raise DataError(f"IDX file '{path}': unknown type code 0x{code:02x}; known codes are "
                        + ", ".join(f"0x{c:02x}" for c in IDX_TYPES))
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"IDX file '{path}': {ndim} dimensions declared but the header "
                        f"needs {header} bytes and the file has {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[code])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"IDX file '{path}': dimensions {dims} of {dtype.itemsize}-byte elements "
                        f"need {expected} bytes but the file has {len(raw)} (truncated or "
                        "corrupt)")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find(root: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (root / name).is_file():
            return root / name
    raise DataError(f"Fashion-MNIST: '{stem}' (or '{stem}.gz') is not in '{root}'. The files "
                    "come from the Debian package dataset-fashion-mnist: install it with "
                    "'apt-get install -y dataset-fashion-mnist' (it puts them in "
                    f"{DEFAULT_ROOT}), or set data.path to a folder holding the four IDX files.")


def installed(root=None) -> bool:
    """Whether the four IDX files (plain or .gz) are in ``root`` (default: Debian's folder)."""
    root = Path(root) if root is not None else DEFAULT_ROOT
    return all((root / (stem + ".gz")).is_file() or (root / stem).is_file()
               for stem in FILES.values())


def load_fashion_mnist(root=None, downsample: bool = False) -> Dataset:
    """Fashion-MNIST: x (N, 784) float64 pixels / 255 in [0, 1], y (N,) int64 in 0..9.

    N is 60000 train and 10000 test. With ``downsample`` each 2x2 block is averaged, giving
    14x14 = 196 inputs. ``root`` defaults to /usr/share/datasets/fashion-mnist.
    """
    root = DEFAULT_ROOT if root is None else Path(root)
    arrays = {key: read_idx(_find(root, stem)) for key, stem in FILES.items()}
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(y) != len(x):
            raise DataError(f"Fashion-MNIST in '{root}': {part} images have shape {x.shape} and "
                            f"labels {y.shape}; expected (N, 28, 28) images and (N,) labels")
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise DataError(f"Fashion-MNIST in '{root}': {part} labels span {y.min()}..{y.max()}"
                            "; expected class indices 0..9")
    xs = {}
    for part in ("train", "test"):
        x = arrays[f"x_{part}"].astype(np.float64) / 255.0
        if downsample:
            x = x.reshape(len(x), 14, 2, 14, 2).mean(axis=(2, 4))
        xs[part] = x.reshape(len(x), -1)
    return Dataset("fashion_mnist", xs["train"], arrays["y_train"].astype(np.int64),
                   xs["test"], arrays["y_test"].astype(np.int64), 10)
