"""Every reader of user files (net.yaml, sweep files, architecture YAML, npz data and models,
.pt, .nir, checkpoints) meets random and mutated files in a subprocess capped at 1 GiB of
address space, 10 s per file (tests/fuzz_readers.py): only exit-2/3 errors may come out."""
import json
import resource
import subprocess
import sys

import pytest

from conftest import ROOT

CAP = 1 << 30


def fuzz(tmp_path, examples: int) -> dict:
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "fuzz_readers.py"),
                           str(tmp_path), str(examples)], preexec_fn=cap, cwd=tmp_path,
                          capture_output=True, text=True, timeout=1200,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    result = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    assert proc.returncode == 0, (proc.stderr[-3000:], result.get("failures"))
    return result


def test_readers_refuse_random_and_mutated_files_cleanly(tmp_path):
    result = fuzz(tmp_path, 60)
    readers = {"config", "sweep", "architecture", "npz data", "npz model", "nir", "checkpoint"}
    assert readers <= set(result["files"]) and result["failed"] == 0
    for reader, tally in result["files"].items():   # mutations also leave readable files
        assert tally["read"] + tally["refused"] == 60, reader


@pytest.mark.slow
def test_readers_refuse_random_and_mutated_files_cleanly_at_length(tmp_path):
    assert fuzz(tmp_path, 1000)["failed"] == 0
