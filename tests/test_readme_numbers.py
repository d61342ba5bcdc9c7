"""The README's Measured table cannot drift: it is what bench/readme_numbers.py renders from the
stored results (bench/results/*.json), and the main job's stored numbers are what the code
gives today (the runs are deterministic for the config's seed). The fidelity rows' stored
numbers are checked where they are measured (conftest.measured); the quantization rows' by a
slow test here; speed and memory are timings of the last benchmark run."""
import json

import pytest

from conftest import ROOT, load_script


@pytest.fixture(scope="module")
def script():
    return load_script(ROOT / "bench" / "readme_numbers.py")


def test_the_readme_table_is_the_stored_numbers(script):
    readme = (ROOT / "README.md").read_text()
    stored = script.load_stored()
    assert script.readme_with(readme, script.table(stored)) == readme, (
        "README.md's Measured table differs from what bench/results/*.json render: run "
        "python bench/readme_numbers.py --write-readme")
    for key, begin, end in (("temporal", script.TEMPORAL_BEGIN, script.TEMPORAL_END),
                            ("spoken_digits", script.SPOKEN_BEGIN, script.SPOKEN_END)):
        assert script.readme_with(readme, script.temporal_table(stored[key]), begin,
                                  end) == readme, (
            f"README.md's {key} accuracy table differs from {script.SOURCES[key]}: run "
            "python bench/readme_numbers.py --render --write-readme")


def test_the_stored_numbers_are_what_the_code_gives_today(script):
    stored = json.loads(script.RESULTS.read_text())
    today = json.loads(json.dumps(script.measure()))
    assert today == stored, ("the main job's numbers changed: run python bench/readme_numbers.py "
                             "--write-readme and commit README.md with the results")


@pytest.mark.slow
def test_the_stored_quantization_numbers_are_what_the_code_gives_today(script, tmp_path):
    """bench/quantization.py again (30 deterministic digits runs, about 2 minutes)."""
    import subprocess
    import sys

    stored = json.loads(script.SOURCES["quantization"].read_text())
    subprocess.run([sys.executable, str(ROOT / "bench" / "quantization.py"), "--out",
                    str(tmp_path / "runs"), "--results", str(tmp_path / "q.json")], check=True,
                   capture_output=True)
    assert json.loads((tmp_path / "q.json").read_text()) == stored


def test_a_quoted_number_that_changed_fails_its_test(measured, monkeypatch, tmp_path):
    """conftest.measured: the value the README quotes (stored) must be today's, shown as the
    README shows it; rounding-level errors must stay within ten times the stored decade."""
    import conftest

    stored = tmp_path / "measured.json"
    stored.write_text(json.dumps({"rate": 0.9623, "error": 1.2e-16}))
    monkeypatch.setattr(conftest, "MEASURED", stored)
    monkeypatch.delenv("CHIPSIM_MEASURE_INTO", raising=False)
    measured("rate", 0.96234, digits=4)
    measured("error", 9e-16, digits=None)
    for key, value, digits in (("rate", 0.9645, 4), ("error", 2e-14, None), ("new", 1.0, 2)):
        with pytest.raises(AssertionError, match=key):
            measured(key, value, digits=digits)
