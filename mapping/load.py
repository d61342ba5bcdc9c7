"""Load a trained network from a file, by its suffix: .nir, .npz (+ .yaml), .pt / .pth (+ .yaml),
or from a run directory (its weights.npz + weights.yaml: every run directory is a model)."""
from __future__ import annotations

from pathlib import Path

from chipsim.errors import DataError

RUN_WEIGHTS = "weights.npz"  # what a run directory holds, with its architecture weights.yaml


def model_file(path: str | Path) -> Path:
    """The file ``network.model`` names: the path itself, or a run directory's weights.npz."""
    path = Path(path)
    if not path.is_dir():
        return path
    weights = path / RUN_WEIGHTS
    if not weights.is_file():
        raise DataError(f"network.model: '{path}' is a directory without {RUN_WEIGHTS}; a run "
                        f"directory (python -m chipsim run NET.yaml --out DIR) holds "
                        f"{RUN_WEIGHTS} and weights.yaml, or name a .nir, .npz or .pt file")
    if not weights.with_suffix(".yaml").is_file():
        raise DataError(f"network.model: run directory '{path}' has {RUN_WEIGHTS} but no "
                        "weights.yaml (its architecture; runs of older chipsim versions lack "
                        "it): rerun it, or write weights.yaml as mapping/architecture.py "
                        "describes")
    return weights


def load_model(path: str | Path, convention: str = "nir", dt: float | None = None):
    """The Network in ``path``; DataError for a missing, unknown or damaged file."""
    path = model_file(path)
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
                    "graph), .npz with a .yaml architecture beside it, .pt / .pth (a torch "
                    "state_dict with a .yaml architecture beside it), and run directories")


def trained_weight_formats(path: str | Path) -> dict[str, dict]:
    """Per layer {'bits', 'frac'} of the chip that trained the model in ``path`` (a chipsim
    run's npz model); {} for other models and for weights trained in float64."""
    path = model_file(path)
    if path.suffix.lower() != ".npz":
        return {}
    from chipsim.mapping.from_npz import read_weight_formats

    return read_weight_formats(path)
