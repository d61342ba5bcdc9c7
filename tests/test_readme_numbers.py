"""The README's Measured rows for the main job cannot drift: they are what
bench/readme_numbers.py writes from its stored results, and those are what the code gives
today (the runs are deterministic for the config's seed)."""
import importlib.util
import json

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("readme_numbers",
                                                  ROOT / "bench" / "readme_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_rows_are_the_stored_numbers(script):
    stored = json.loads(script.RESULTS.read_text())
    readme = (ROOT / "README.md").read_text()
    assert script.readme_with(readme, script.rows(stored)) == readme, (
        "README.md's Measured rows differ from bench/results/readme_numbers.json: run "
        "python bench/readme_numbers.py --write-readme")


def test_the_stored_numbers_are_what_the_code_gives_today(script):
    stored = json.loads(script.RESULTS.read_text())
    today = json.loads(json.dumps(script.measure()))
    assert today == stored, ("the main job's numbers changed: run python bench/readme_numbers.py "
                             "--write-readme and commit README.md with the results")
