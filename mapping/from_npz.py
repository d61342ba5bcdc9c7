"""A network from an npz of weights and the .yaml architecture beside it (same stem).

A chipsim run's ``weights.yaml`` also holds, when a chip trained the weights, a ``chip:``
section: per synaptic layer the weight format they were stored in (weight = integer x
2^-frac), so an import onto the same chip keeps the trained integers:

    chip:
      weight_formats:
        fc1: {bits: 8, frac: 6}
"""
from pathlib import Path

from chipsim.errors import DataError
from chipsim.mapping.architecture import build_from_architecture, read_architecture
from chipsim.mapping.network import read_npz


def read_npz_model(path: str | Path):
    path = Path(path)
    arch = read_architecture(path.with_suffix(".yaml"))
    return build_from_architecture(arch, read_npz(path, "model weights"), str(path))


def read_weight_formats(path: str | Path) -> dict[str, dict]:
    """``chip.weight_formats`` of the architecture beside the npz ``path``: {layer (or
    'layer.bias'): {'bits': int, 'frac': int}}; {} when absent. DataError naming the file and
    key when malformed."""
    yaml_path = Path(path).with_suffix(".yaml")
    arch = read_architecture(yaml_path)
    chip = arch.get("chip")
    if chip is None:
        return {}
    formats = chip.get("weight_formats") if isinstance(chip, dict) else None
    layers = {str(spec.get("name")) for spec in arch["layers"]
              if isinstance(spec, dict) and spec.get("type") in ("dense", "conv2d")}
    synaptic = layers | {f"{name}.bias" for name in layers}  # the biases' formats too
    valid = isinstance(formats, dict) and set(formats) <= synaptic and all(
        isinstance(f, dict) and set(f) == {"bits", "frac"}
        and all(isinstance(v, int) and not isinstance(v, bool) for v in f.values())
        and 1 <= f["bits"] <= 64 for f in formats.values())
    if not valid:
        raise DataError(f"architecture '{yaml_path}': chip.weight_formats must map synaptic "
                        f"layer names ({', '.join(sorted(layers))}, or <name>.bias) to "
                        f"{{bits: 1..64, frac: integer}}, got {formats!r}")
    return formats
