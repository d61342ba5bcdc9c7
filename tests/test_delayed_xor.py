"""The delayed XOR task (chipsim/data/delayed_xor.py): seeded, laid out as documented, labels
the XOR of the two cues, balanced, and refused when the steps cannot hold it."""
import numpy as np
import pytest

from chipsim.data.delayed_xor import delayed_xor, load_delayed_xor
from chipsim.errors import DataError


def test_cues_delay_and_recall_are_where_the_docstring_puts_them():
    rng = np.random.default_rng(0)
    cue, delay, c, steps = 4, 6, 5, 20
    x, y = delayed_xor(rng, 400, steps, cue, delay, c, rate=1.0, noise=0.0)
    a, b, r = x[..., :c], x[..., c:2 * c], x[..., 2 * c:]
    first = a[:, :cue].all(axis=(1, 2)) != b[:, :cue].all(axis=(1, 2))   # one group, whole cue
    assert first.all()
    second_a = a[:, cue + delay:2 * cue + delay].all(axis=(1, 2))
    second_b = b[:, cue + delay:2 * cue + delay].all(axis=(1, 2))
    assert (second_a != second_b).all()
    assert not x[:, cue:cue + delay].any()                      # the delay is silent
    assert r[:, 2 * cue + delay:].all() and not r[:, :2 * cue + delay].any()
    assert not x[:, 2 * cue + delay:, :2 * c].any()             # no cue during recall
    first_is_a = a[:, 0, 0] == 1
    assert np.array_equal(y, (first_is_a != second_a).astype(np.int64))   # XOR
    assert 0.4 < y.mean() < 0.6


def test_same_seed_same_data_and_train_differs_from_test():
    one = load_delayed_xor(3, 30, 5, 10, 10, 0.5, 0.02, 50, 20)
    two = load_delayed_xor(3, 30, 5, 10, 10, 0.5, 0.02, 50, 20)
    assert np.array_equal(one.x_train, two.x_train) and np.array_equal(one.y_test, two.y_test)
    assert one.x_train.shape == (50, 30, 30) and one.x_test.shape == (20, 30, 30)
    assert not np.array_equal(one.x_train[:20], one.x_test)
    assert one.n_classes == 2 and one.x_train.dtype == np.uint8


def test_too_few_steps_are_refused_with_the_fix():
    with pytest.raises(DataError, match=r"leave 0 recall steps in data.timesteps = 20; use "
                                        r"timesteps >= 21"):
        load_delayed_xor(0, 20, 5, 10, 10, 0.5, 0.02, 10, 10)


def test_a_task_too_large_for_the_machine_is_refused_before_it_is_drawn(tmp_path, capsys,
                                                                        monkeypatch):
    from chipsim import memory_budget
    from chipsim.cli import main

    from conftest import ROOT

    monkeypatch.setattr(memory_budget, "available_bytes", lambda: (1 << 30, "a test limit"))
    assert main(["run", str(ROOT / "examples" / "delayed_xor.yaml"), "--out",
                 str(tmp_path / "r"), "--set", "data.delayed_xor.train=100000",
                 "--set", "data.timesteps=1000"]) == 2
    err = capsys.readouterr().err
    assert "data.delayed_xor: 3.01e+09 input values (2.8 GiB as uint8) exceed the 1.0 GiB " \
           "left under a test limit" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
