"""Load a trained network from a file, by its suffix: .nir, .npz (+ .yaml), .pt / .pth (+ .yaml)."""
from __future__ import annotations

from pathlib import Path

from chipsim.errors import DataError


def load_model(path: str | Path, convention: str = "nir", dt: float | None = None):
    """The Network in ``path``; DataError for a missing, unknown or damaged file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"network.model: '{path}' not found")
    suffix = path.suffix.lower()
    if suffix == ".nir":
        from chipsim.mapping.from_nir import read_nir

        return read_nir(path, convention=convention, dt=dt)
    if suffix == ".npz":
        from chipsim.mapping.from_npz import read_npz_model

        return read_npz_model(path)
    if suffix in (".pt", ".pth"):
        from chipsim.mapping.from_torch import read_torch_file

        return read_torch_file(path)
    raise DataError(f"network.model: '{path}' has suffix '{suffix}'; chipsim reads .nir (NIR "
                    "graph), .npz with a .yaml architecture beside it, and .pt / .pth (a torch "
                    "state_dict with a .yaml architecture beside it)")
