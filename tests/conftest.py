import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


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
