"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Each file is written to a temporary name in the same folder, flushed and fsync'ed, then
renamed over the target (rename is atomic within a file system).
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0600


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=1, sort_keys=False) + "\n")


def write_npz(path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed npz of named arrays (loadable with allow_pickle=False)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def write_figure(path, figure) -> None:
    """Save a matplotlib figure (format from the suffix) atomically and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    figure.savefig(buf, format=Path(path).suffix.lstrip("."), dpi=120, bbox_inches="tight")
    plt.close(figure)
    atomic_write_bytes(path, buf.getvalue())
