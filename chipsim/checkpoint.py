"""Checkpoints: the complete training state in one file, written atomically, refused when it
does not belong to the config or is damaged.

``checkpoint.npz`` holds the model's arrays (synapse memory, accumulators, every register,
counters and generator positions, or float parameters and optimizer buffers) and a JSON
record of where training stands (epoch, next batch, results so far) with a hash of the
resolved config. Data order and encoder draws are functions of (seed, epoch, batch), so the
position is all a resumed run needs to continue exactly as an uninterrupted one.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Union

import annotated_types as at
import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from chipsim import __version__
from chipsim.config import schema_problems
from chipsim.errors import DataError
from chipsim.mapping.network import read_npz
from chipsim.report.writer import write_npz

FILE = "checkpoint.npz"


def data_fingerprint(config) -> dict | None:
    """What identifies the data file a run learns from (data.path): its size and sha256
    (files over 256 MiB: size and modification time), so a resume notices a replaced file."""
    path = config.data.path
    if not path or not Path(path).is_file():
        return None
    stat = Path(path).stat()
    if stat.st_size > 256 << 20:
        return {"path": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"path": str(path), "bytes": stat.st_size, "sha256": digest}


def config_hash(config) -> str:
    """sha256 of the resolved config without its output section (where results go)."""
    body = config.model_dump(mode="json")
    body.pop("output", None)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def save(directory: Path, config, position: dict, arrays: dict[str, np.ndarray],
         name: str = "") -> Path:
    """DIR/checkpoint.npz with the resolved config (a resume needs nothing else) and the
    run's name."""
    meta = {"chipsim_version": __version__, "config_sha256": config_hash(config),
            "config": config.model_dump(mode="json"), "name": name, "position": position,
            "data_file": data_fingerprint(config)}
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = Path(directory) / FILE
    write_npz(path, {"__meta__": blob, **{f"model/{k}": v for k, v in arrays.items()}})
    return path


def _read(directory: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, model arrays) of DIR/checkpoint.npz; DataError when absent or damaged."""
    path = Path(directory) / FILE
    if not path.is_file():
        raise DataError(f"--resume {directory}: no {FILE} there (checkpoints are written with "
                        "output.checkpoint_every > 0, or when a run is interrupted)")
    damaged = "is damaged or truncated"
    advice = "; it cannot be resumed (start the run again, or restore the file)"
    try:  # sizes checked before anything is read, as for every npz (mapping.network)
        files = read_npz(path, "checkpoint", unreadable=damaged)
    except DataError as exc:  # (a TooLargeError, exit 3, is not one)
        raise DataError(f"{exc}{advice}") from None
    try:
        meta = json.loads(files.pop("__meta__").tobytes().decode())
        position = meta["position"]
        int(position["epoch"]), int(position["batch"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # bad JSON or fields
        raise DataError(f"checkpoint '{path}' {damaged} ({exc}){advice}") from None
    return meta, {k.removeprefix("model/"): v for k, v in files.items()}


def saved_config(directory: Path) -> tuple[dict, str]:
    """(the resolved config as a dict, the run's name) a checkpoint was written with, so
    ``chipsim run --resume DIR`` needs no net.yaml; DataError for a checkpoint without it."""
    meta, _ = _read(directory)
    if not isinstance(meta.get("config"), dict):
        raise DataError(f"checkpoint '{Path(directory) / FILE}' does not hold its config "
                        "(written by an older chipsim): resume with the run's net.yaml and "
                        "--set options, chipsim run NET.yaml --resume DIR")
    return meta["config"], str(meta.get("name") or Path(directory).name)


def load(directory: Path, config) -> tuple[dict, dict[str, np.ndarray]]:
    """(position, model arrays) from DIR/checkpoint.npz; DataError when absent, damaged or
    made by another config."""
    path = Path(directory) / FILE
    meta, arrays = _read(directory)
    position = meta["position"]
    if meta.get("config_sha256") != config_hash(config):
        changed = _changed_keys(meta.get("config"), config.model_dump(mode="json"))
        raise DataError(f"checkpoint '{path}' was written by a different config"
                        + (f" ({', '.join(changed[:5])} changed)" if changed else "")
                        + "; only output.* may change between a run and its resume: resume "
                        "with the same net.yaml and --set options, or with --resume DIR alone")
    stored = meta.get("data_file")
    if stored is not None and stored != data_fingerprint(config):
        raise DataError(f"checkpoint '{path}': the data file '{stored['path']}' is not the one "
                        "the run started with (its size or content changed); restore it, or "
                        "start the run again")
    problem = _position_problem(position, config)
    if problem:
        raise DataError(f"checkpoint '{path}' is damaged ({problem}); it cannot be resumed "
                        "(start the run again, or restore the file)")
    return position, arrays


def _changed_keys(saved, now: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ (output.* aside)."""
    if not isinstance(saved, dict):
        return []
    out = []
    for key in sorted(set(saved) | set(now)):
        dotted = f"{prefix}{key}"
        if dotted == "output":
            continue
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed_keys(a, b, dotted + ".")
        elif a != b:
            out.append(dotted)
    return out


class Position(BaseModel):
    """Where training stands, as a checkpoint stores it (validated by the same machinery as
    net.yaml; other keys, such as the initial spike rates, pass as they are)."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    epoch: Annotated[int, at.Ge(1)]
    batch: Annotated[int, at.Ge(0)]
    correct: Annotated[int, at.Ge(0)]
    since_checkpoint: Annotated[int, at.Ge(0)]
    loss_sum: float = 0.0
    epochs: list[dict[str, Union[float, str, None]]]  # one record per evaluated epoch


def _position_problem(position: dict, config) -> str | None:
    """What is impossible about a stored position for this config (None: nothing)."""
    try:
        Position.model_validate(position)
    except ValidationError as exc:
        return "; ".join(f"position.{p}" for p in schema_problems(exc, Position))
    if position["epoch"] > config.learning.epochs + 1:
        return (f"position.epoch is {position['epoch']}, the config trains epochs 1 to "
                f"{config.learning.epochs}")
    return None


def restore_arrays(target: dict[str, np.ndarray], saved: dict[str, np.ndarray], path) -> None:
    """Copy saved arrays into the model's arrays in place, refusing any mismatch."""
    if set(target) != set(saved):
        raise DataError(f"checkpoint in '{path}' holds other state than this model expects "
                        f"(missing: {sorted(set(target) - set(saved))}, extra: "
                        f"{sorted(set(saved) - set(target))})")
    for key, arr in target.items():
        got = saved[key]
        if got.shape != arr.shape or got.dtype != arr.dtype:
            raise DataError(f"checkpoint in '{path}': '{key}' is {got.dtype}{got.shape}, the "
                            f"model has {arr.dtype}{arr.shape}")
    for key, arr in target.items():
        arr[...] = saved[key]
