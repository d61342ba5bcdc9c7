"""Config loading, overrides and every class of bad input: message text and exit status 2."""
import re

import numpy as np
import pytest

from chipsim.cli import main
from chipsim.config import load_config, reference_markdown
from chipsim.errors import ConfigError

from conftest import ROOT, run_cli, write_yaml

EXAMPLE = ROOT / "examples" / "digits_ottt.yaml"

MINIMAL = {"network": {"layers": [{"name": "h", "units": 8},
                                  {"name": "out", "units": 10, "neuron": "readout"}]}}


def cli_error(capsys, tmp_path, cfg, *extra):
    """Run the CLI in-process on a config dict (or path); return (status, stderr)."""
    path = cfg if isinstance(cfg, str) else str(write_yaml(tmp_path / "net.yaml", cfg))
    status = main(["run", path, "--out", str(tmp_path / "run"), *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


def test_example_loads_and_defaults_fill_in():
    cfg = load_config(ROOT / "examples" / "digits_ottt.yaml")
    assert cfg.network.layers[0].units == 128
    assert cfg.learning.loss.mse_weight == 0.05 and cfg.chip.bits.weight == 8


def test_set_overrides_by_dotted_path_with_yaml_values(tmp_path):
    path = write_yaml(tmp_path / "n.yaml", MINIMAL)
    cfg = load_config(path, ["chip.bits.weight=4", "chip.mesh=[2, 2]",
                             "network.layers.0.units=32", "learning.optimizer.lr=0.5"])
    assert cfg.chip.bits.weight == 4 and cfg.chip.mesh == [2, 2]
    assert cfg.network.layers[0].units == 32 and cfg.learning.optimizer.lr == 0.5


@pytest.mark.parametrize("item,needle", [
    ("chip.bits.weight", "expected KEY=VALUE"),
    ("network.layers.5.units=3", "indexes a list of 2 items"),
    ("network.layers.0.units.x=1", "'network.layers.0.units' is a value, not a section"),
])
def test_bad_set_items(tmp_path, item, needle):
    path = write_yaml(tmp_path / "n.yaml", MINIMAL)
    with pytest.raises(ConfigError, match=needle):
        load_config(path, [item])


def test_unknown_key_with_suggestion(capsys, tmp_path):
    status, err = cli_error(capsys, tmp_path, {**MINIMAL, "data": {"sorce": "digits"}})
    assert status == 2
    assert "data.sorce: unknown key 'sorce' (did you mean 'source'?); valid keys in data:" in err


def test_wrong_type(capsys, tmp_path):
    status, err = cli_error(capsys, tmp_path, MINIMAL, "--set", "chip.bits.weight=eight")
    assert status == 2
    assert "chip.bits.weight: expected an integer in [2, 32], got 'eight' (str)" in err


def test_out_of_range(capsys, tmp_path):
    status, err = cli_error(capsys, tmp_path, MINIMAL, "--set", "chip.core.synapse_memory_kib=40000")
    assert status == 2
    assert "chip.core.synapse_memory_kib: expected an integer in [1, 4096], got 40000" in err


def test_missing_required(capsys, tmp_path):
    status, err = cli_error(capsys, tmp_path, {"seed": 1})
    assert status == 2
    assert "network: required, a section with keys" in err
    status, err = cli_error(capsys, tmp_path, {"network": {"layers": [{"name": "out"}]}})
    assert "network.layers.0.units: required for a dense layer" in err
    status, err = cli_error(capsys, tmp_path, {"network": {"bias": True}})
    assert status == 2 and "network.layers: give either layers" in err and "one is required" in err


def test_bad_enum_with_suggestion(capsys, tmp_path):
    status, err = cli_error(capsys, tmp_path, MINIMAL, "--set", "learning.rule=otd")
    assert status == 2
    assert "learning.rule: unknown 'otd' (did you mean 'ottt'?); expected one of 'ottt', 'bptt', 'none'" in err


def test_all_problems_reported_at_once(capsys, tmp_path):
    status, err = cli_error(capsys, tmp_path, MINIMAL, "--set", "learning.rule=otd",
                            "--set", "seed=-1", "--set", "chip.rounding=round")
    assert status == 2 and "3 problems" in err
    for key in ("learning.rule", "seed", "chip.rounding"):
        assert f"  {key}:" in err


def test_cross_section_rules(capsys, tmp_path):
    bad = {"data": {"source": "npz"},
           "network": {"layers": [{"name": "a", "units": 4, "neuron": "readout"},
                                  {"name": "a", "units": 3},
                                  {"name": "b", "type": "flatten"}],
                       "neuron": {"reset": "zero", "reset_at": "next_step"}}}
    status, err = cli_error(capsys, tmp_path, bad)
    assert status == 2
    assert "data.path: required when data.source is 'npz'" in err
    assert "network.layers.2.type: the last layer ('b') must be dense or conv2d" in err
    assert "network.neuron.reset_at: reset 'zero' happens in the same step" in err
    assert "network.layers.0.neuron: only the last layer can be 'readout'" in err
    assert "layer names must be unique, repeated: a" in err


def test_missing_config_file(capsys, tmp_path):
    status, err = cli_error(capsys, tmp_path, str(tmp_path / "nope.yaml"))
    assert status == 2 and "config file" in err and "nope.yaml' not found" in err


def test_invalid_yaml_and_non_mapping(capsys, tmp_path):
    (tmp_path / "bad.yaml").write_text("network: [unclosed\n")
    status, err = cli_error(capsys, tmp_path, str(tmp_path / "bad.yaml"))
    assert status == 2 and "not valid YAML" in err
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    status, err = cli_error(capsys, tmp_path, str(tmp_path / "list.yaml"))
    assert status == 2 and "the top level must be a mapping" in err


def test_missing_weights_file(capsys, tmp_path):
    cfg = {**MINIMAL, "network": {**MINIMAL["network"], "init": {"weights": "nowhere.npz"}}}
    status, err = cli_error(capsys, tmp_path, cfg)
    assert status == 2 and f"weights file '{tmp_path / 'nowhere.npz'}' not found" in err


def test_corrupt_npz(capsys, tmp_path):
    (tmp_path / "w.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    cfg = {**MINIMAL, "network": {**MINIMAL["network"], "init": {"weights": str(tmp_path / "w.npz")}}}
    status, err = cli_error(capsys, tmp_path, cfg)
    assert status == 2 and "is not a readable .npz file" in err


def test_weights_npz_with_wrong_shape_and_missing_layer(capsys, tmp_path):
    np.savez(tmp_path / "w.npz", h=np.zeros((8, 63)))
    cfg = {**MINIMAL, "network": {**MINIMAL["network"], "init": {"weights": str(tmp_path / "w.npz")}}}
    status, err = cli_error(capsys, tmp_path, cfg)
    assert status == 2
    assert "array 'h' has shape (8, 63), layer needs (8, 64)" in err
    assert "missing array 'out' of shape (10, 8)" in err


@pytest.mark.parametrize("arrays,needle", [
    ({"x": np.zeros((10, 4))}, "missing array 'y'"),
    ({"x": np.full((10, 4), np.nan), "y": np.zeros(10, int)}, "'x' holds NaN or inf"),
    ({"x": np.zeros((10, 4)), "y": np.zeros(9, int)}, "'y' has shape (9,)"),
    ({"x": np.zeros((10, 4)), "y": np.zeros(10)}, "expected integer labels"),
    ({"x": np.zeros((10, 5, 4)), "y": np.zeros(10, int)}, "pre-encoded with T = 5"),
    ({"x": np.zeros((40, 4)), "y": np.arange(40) % 4 + 9}, "labels up to 12; use units: 13"),
])
def test_bad_data_npz(capsys, tmp_path, arrays, needle):
    np.savez(tmp_path / "d.npz", **arrays)
    cfg = {**MINIMAL, "data": {"source": "npz", "path": str(tmp_path / "d.npz")}}
    status, err = cli_error(capsys, tmp_path, cfg)
    assert status == 2 and needle in err


def test_usage_error_is_exit_2(capsys):
    assert main(["frobnicate"]) == 2


def test_subprocess_error_has_no_traceback(tmp_path):
    cfg = write_yaml(tmp_path / "net.yaml", {**MINIMAL, "learning": {"epoch": 1}})
    proc = run_cli(["run", str(cfg)], cwd=tmp_path)
    assert proc.returncode == 2
    assert "learning.epoch: unknown key 'epoch' (did you mean 'epochs'?)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_docs_config_md_is_generated_from_the_schema():
    assert (ROOT / "docs" / "config.md").read_text() == reference_markdown()


def test_paths_in_a_config_file_are_relative_to_it(tmp_path, capsys):
    sub = tmp_path / "study"
    sub.mkdir()
    np.savez(sub / "w.npz", h=np.zeros((8, 64)), out=np.zeros((10, 8)))
    write_yaml(sub / "n.yaml", {**MINIMAL, "network": {**MINIMAL["network"],
                                                       "init": {"weights": "w.npz"}}})
    cfg = load_config(sub / "n.yaml")
    assert cfg.network.init.weights == str(sub / "w.npz")
    cfg = load_config(sub / "n.yaml", ["network.init.weights=other.npz"])
    assert cfg.network.init.weights == "other.npz"   # --set stays relative to the caller


def test_written_files_are_readable_by_others(tmp_path):
    import os
    import stat
    from chipsim.report.writer import write_text

    write_text(tmp_path / "x.txt", "hi")
    mode = stat.S_IMODE(os.stat(tmp_path / "x.txt").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


@pytest.mark.parametrize("override, key", [
    ("chip.cycles.synaptic_ops=.inf", "chip.cycles.synaptic_ops"),
    ("chip.cycles.barrier=.nan", "chip.cycles.barrier"),
    ("chip.cycles.hop_cycles=-1", "chip.cycles.hop_cycles"),
    ("chip.static_pj_per_core_step=.inf", "chip.static_pj_per_core_step"),
    ("learning.optimizer.lr=.nan", "learning.optimizer.lr")])
def test_infinite_nan_and_negative_costs_are_refused(override, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_config(EXAMPLE, [override])


def test_a_user_energy_table_needs_finite_non_negative_pj():
    from chipsim.report.costs import PRICED_NAMES

    for bad in (".inf", ".nan", "-1.0"):
        table = ", ".join(f"{name}: {bad if name == 'synaptic_ops' else 1.0}"
                          for name in PRICED_NAMES)
        with pytest.raises(ConfigError, match="chip.energy"):
            load_config(EXAMPLE, [f"chip.energy={{{table}}}"])


def test_the_loihi_presets_keep_the_default_learning_event_times():
    """Loihi has no published learning-event latencies: its presets keep chip.cycles' default
    times, written out in ns at their 1 GHz clock (presets.py cannot import the config to
    derive them, so this test ties the two)."""
    from chipsim.chip.presets import LOIHI_CYCLES, _LEARNING_NS
    from chipsim.config import CyclesConfig

    default = CyclesConfig()
    ns_per_cycle = 1e3 / default.clock_mhz
    assert LOIHI_CYCLES["clock_mhz"] == 1000.0  # 1 cycle = 1 ns
    for event, ns in _LEARNING_NS.items():
        assert ns == pytest.approx(getattr(default, event) * ns_per_cycle), event
        assert LOIHI_CYCLES[event] == ns
    learning = {"error_packets", "trace_updates", "error_reads", "modulator_ops",
                "weight_updates", "accumulator_updates", "gradient_macs", "accumulator_reads"}
    assert set(_LEARNING_NS) == learning & set(CyclesConfig.model_fields)
