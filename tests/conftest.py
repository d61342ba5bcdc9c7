import hashlib
import json
import os
import tempfile
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


def _numba_cache_dir() -> str:
    """numba's on-disk cache does not notice edits to an inlined helper in another file, so
    tests use a cache folder keyed by the source of the whole package (reused when unchanged)."""
    digest = hashlib.sha1()
    for path in sorted(p for d in ("chipsim", "rules", "mapping") for p in (ROOT / d).rglob("*.py")):
        digest.update(path.read_bytes())
    return str(Path(tempfile.gettempdir()) / f"chipsim-numba-{digest.hexdigest()[:12]}")


os.environ.setdefault("NUMBA_CACHE_DIR", _numba_cache_dir())


@pytest.fixture(scope="session")
def golden():
    with np.load(DATA / "ottt_golden.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="session")
def golden_meta():
    return json.loads((DATA / "ottt_golden.json").read_text())


def write_yaml(path: Path, obj) -> Path:
    path.write_text(yaml.safe_dump(obj, sort_keys=False))
    return path


def run_cli(args, cwd=None, env=None):
    """Run ``python -m chipsim ARGS`` in a subprocess; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONPATH", "")
    # The checkout must import from anywhere, installed or not: put the repo on the path.
    full_env["PYTHONPATH"] = str(ROOT) + (os.pathsep + full_env["PYTHONPATH"]
                                          if full_env["PYTHONPATH"] else "")
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "chipsim", *args], cwd=cwd or ROOT,
                          env=full_env, capture_output=True, text=True, timeout=600)
