"""Fuzzing every reader of user files (run by tests/test_fuzz_readers.py in a subprocess under
a 1 GiB address-space cap): random bytes and random mutations of a valid file, each read with
a 10 s alarm. The only outcome allowed besides success is a ChipsimError of exit status 2 or
3; anything else (a traceback, MemoryError, RecursionError, a hang) is printed and counted.

Usage: python tests/fuzz_readers.py FOLDER EXAMPLES_PER_READER
"""
import json
import signal
import sys
import traceback
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from chipsim import checkpoint
from chipsim.config import load_config
from chipsim.data.npz import load_npz
from chipsim.errors import ChipsimError
from chipsim.mapping.load import load_model
from chipsim.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits_ottt.yaml"
SECONDS = 10


class TooSlow(Exception):
    pass


def _alarm(signum, frame):
    raise TooSlow(f"more than {SECONDS} s")


def seeds(folder: Path) -> dict:
    """A valid file for every reader: (file name, bytes, how to read it)."""
    rng = np.random.default_rng(0)
    files = {}
    files["config"] = ("config.yaml", EXAMPLE.read_bytes(), lambda p: load_config(p))
    sweep = {"base": str(EXAMPLE), "set": {"learning.epochs": 1},
             "axes": {"chip.bits.weight": [4, 8], "seed": [0, 1]}}
    files["sweep"] = ("sweep.yaml", yaml.safe_dump(sweep).encode(), lambda p: load_sweep(p))
    arch = {"input": [4], "neuron": {"tau": 2.0, "threshold": 1.0},
            "layers": [{"name": "fc", "type": "dense", "units": 3},
                       {"name": "out", "type": "dense", "units": 2, "neuron": "readout"}]}
    np.savez(folder / "arch_model.npz", fc=rng.random((3, 4)), out=rng.random((2, 3)))
    files["architecture"] = ("arch_model.yaml", yaml.safe_dump(arch).encode(),
                             lambda p: load_model(p.with_suffix(".npz")))
    data = folder / "seed_data.npz"
    np.savez(data, x=rng.random((20, 4)), y=rng.integers(0, 2, 20))
    files["npz data"] = ("data.npz", data.read_bytes(), lambda p: load_npz(str(p), 0.2, 6, 0))
    (folder / "model.yaml").write_text(yaml.safe_dump(arch))
    np.savez(folder / "model_seed.npz", fc=rng.random((3, 4)), out=rng.random((2, 3)))
    files["npz model"] = ("model.npz", (folder / "model_seed.npz").read_bytes(),
                          lambda p: load_model(p))
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        (folder / "net.yaml").write_text(yaml.safe_dump(arch))
        torch.save({"fc.weight": torch.rand(3, 4), "out.weight": torch.rand(2, 3)},
                   folder / "net_seed.pt")
        files["torch"] = ("net.pt", (folder / "net_seed.pt").read_bytes(),
                          lambda p: load_model(p))
    import nir

    graph = nir.NIRGraph.from_list(
        nir.Affine(rng.random((3, 4)).astype(np.float32), np.zeros(3, np.float32)),
        nir.LIF(np.full(3, 10.0, np.float32), np.full(3, 1.0, np.float32),
                np.zeros(3, np.float32), np.ones(3, np.float32)))
    nir.write(folder / "seed.nir", graph)
    files["nir"] = ("model.nir", (folder / "seed.nir").read_bytes(), lambda p: load_model(p))
    config = load_config(EXAMPLE)
    checkpoint.save(folder, config, {"epoch": 1, "batch": 2, "correct": 3, "loss_sum": 1.5,
                                     "since_checkpoint": 0, "epochs": []},
                    {"w": rng.random((4, 3))}, "x")
    (folder / "ckpt").mkdir(exist_ok=True)
    files["checkpoint"] = ("ckpt/checkpoint.npz", (folder / checkpoint.FILE).read_bytes(),
                           lambda p: (checkpoint.saved_config(p.parent),
                                      checkpoint.load(p.parent, config)))
    return files


MUTATION = st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate"]),
                     st.floats(0, 1), st.binary(min_size=1, max_size=8))


def mutate(data: bytes, mutations) -> bytes:
    for kind, where, blob in mutations:
        i = int(where * max(len(data) - 1, 0))
        if kind == "flip" and data:
            data = data[:i] + bytes([data[i] ^ blob[0]]) + data[i + 1:]
        elif kind == "insert":
            data = data[:i] + blob + data[i:]
        elif kind == "delete":
            data = data[:i] + data[i + len(blob):]
        else:
            data = data[:i]
    return data


def main() -> int:
    folder, examples = Path(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGALRM, _alarm)
    failures, counts = [], {}
    for reader, (name, seed, read) in seeds(folder).items():
        path = folder / name

        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(st.one_of(st.binary(max_size=2048),
                         st.lists(MUTATION, min_size=1, max_size=4).map(
                             lambda m, s=seed: mutate(s, m))))
        def check(content):
            path.write_bytes(content)
            tally = counts.setdefault(reader, {"read": 0, "refused": 0})
            signal.alarm(SECONDS)
            try:
                read(path)
                tally["read"] += 1
            except ChipsimError as exc:
                tally["refused"] += 1
                if exc.exit_status not in (2, 3):
                    failures.append((reader, f"exit {exc.exit_status}: {exc}"))
            except BaseException:  # noqa: B902 - anything else is what this hunts for
                failures.append((reader, traceback.format_exc(limit=4)))
            finally:
                signal.alarm(0)

        check()
    print(json.dumps({"files": counts, "failures": failures[:20],
                      "failed": len(failures)}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
