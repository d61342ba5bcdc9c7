"""A network from an npz of weights and the .yaml architecture beside it (same stem)."""
from pathlib import Path

from chipsim.mapping.architecture import build_from_architecture, read_architecture
from chipsim.mapping.network import read_npz


def read_npz_model(path: str | Path):
    path = Path(path)
    arch = read_architecture(path.with_suffix(".yaml"))
    return build_from_architecture(arch, read_npz(path, "model weights"), str(path))
