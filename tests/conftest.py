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


def load_script(path: Path):
    """A script of the repository (an example, a benchmark) as a module, to test its parts."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


# ------------------------------------------------------------------ numbers the README quotes
MEASURED = ROOT / "bench" / "results" / "measured.json"


def decade(value: float) -> float:
    """The power of ten at or above ``value`` (how the README bounds rounding-level errors)."""
    return 10.0 ** np.ceil(np.log10(value)) if value > 0 else 0.0


@pytest.fixture
def measured():
    """``measured(key, value, digits=2)``: a number the README's Measured table quotes (via
    bench/readme_numbers.py, from bench/results/measured.json). The test fails when today's
    value, shown to ``digits`` significant digits, is not the stored one, so the README cannot
    drift; ``digits=None``: a rounding-level error, which must stay below ten times the
    stored value's decade (rounding noise differs between CPUs and BLAS builds). With
    ``CHIPSIM_MEASURE_INTO=FILE`` the values are written there instead (``python
    bench/readme_numbers.py --tests`` does that)."""
    into = os.environ.get("CHIPSIM_MEASURE_INTO")

    def check(key: str, value: float, digits: int | None = 2) -> None:
        value = float(value)
        if into:
            path = Path(into)
            stored = json.loads(path.read_text()) if path.exists() else {}
            path.write_text(json.dumps({**stored, key: value}, indent=1, sort_keys=True))
            return
        stored = json.loads(MEASURED.read_text())
        assert key in stored, (f"{key} is not in {MEASURED}: run python bench/readme_numbers.py "
                               "--tests --write-readme")
        fix = "run python bench/readme_numbers.py --tests --write-readme and commit the README"
        if digits is None:  # rounding noise differs with the CPU and BLAS: a decade's slack
            bound = 10 * decade(max(stored[key], 1e-16))   # (0 stored: rounding level)
            assert value <= bound, f"{key}: {value:.3g}, beyond {bound:.0e}; {fix}"
        else:
            assert f"{value:.{digits}g}" == f"{stored[key]:.{digits}g}", (
                f"{key}: {value:.{digits}g} today, the README quotes {stored[key]:.{digits}g}; "
                f"{fix}")

    return check
