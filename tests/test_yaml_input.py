"""YAML a user wrote is read safely (chipsim/yaml_input.py): small hostile files are refused
quickly with exit 2 and a message, keys given twice are refused, 1e-3 is a float."""
import subprocess
import sys

import pytest

from chipsim.cli import main
from chipsim.errors import ConfigError
from chipsim.yaml_input import load_yaml

from conftest import ROOT

# 9 levels of 9 aliases: 9^9 = 387 million values from 370 bytes ("billion laughs")
BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("text, expect", [
    (BOMB, "expands to more than 1,000,000 values"),
    ("data: " + "[" * 2000 + "]" * 2000, "nested too deeply"),
    ("data: " + "[" * 150 + "]" * 150, "nested too deeply"),
    ("a: &a [1, *a]\n", "refers to the list or mapping it is in"),
    ("learning: {epochs: 3}\nseed: 1\nlearning: {}\n", "line 3: the key 'learning' is given twice"),
    ("seed: " + "9" * 5000, "a value that cannot be read (Exceeds the limit (4300 digits)"),
    ("data: {source: digits\n", "not valid YAML"),
])
def test_hostile_or_careless_net_yaml_is_exit_2(tmp_path, text, expect):
    """In a subprocess under a 1 GiB address-space cap: the refusal costs no memory."""
    path = tmp_path / "net.yaml"
    path.write_text(text)
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from chipsim.cli import main; sys.exit(main(['run', sys.argv[1]]))")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"chipsim: error: config file (net.yaml) '{path}'")
    assert expect in proc.stderr and "Traceback" not in proc.stderr


def test_set_values_and_sweep_files_are_read_the_same_way(tmp_path, capsys):
    assert main(["run", str(ROOT / "examples" / "digits_ottt.yaml"), "--set",
                 "learning={epochs: 1, epochs: 2}"]) == 2
    assert "the key 'epochs' is given twice" in capsys.readouterr().err
    sweep = tmp_path / "s.yaml"
    sweep.write_text(BOMB)
    assert main(["sweep", str(sweep)]) == 2
    assert "expands to more than 1,000,000 values" in capsys.readouterr().err


def test_merge_keys_may_override_and_exponents_are_floats():
    assert load_yaml("b: &b {x: 1, y: 2}\nc: {<<: *b, x: 3}\n", "t", ConfigError)["c"] == \
        {"x": 3, "y": 2}
    assert load_yaml("lr: 1e-3\nn: 5E4\nv: 1.0.0\ni: 12\n", "t", ConfigError) == \
        {"lr": 0.001, "n": 50000.0, "v": "1.0.0", "i": 12}
