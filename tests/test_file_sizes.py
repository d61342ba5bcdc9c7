"""Sizes are checked before anything large is allocated: npz headers against the bytes they
hold, unpacked sizes against the memory this process can still get (chipsim/memory_budget.py:
MemAvailable, the cgroup limit, rlimits)."""
import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from chipsim import memory_budget
from chipsim.cli import main

from conftest import ROOT, write_yaml


def npy_header(shape, descr="<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def net_yaml(tmp_path, data):
    return write_yaml(tmp_path / "net.yaml", {
        "data": {"source": "npz", "path": str(data)},
        "network": {"layers": [{"name": "out", "units": 2, "neuron": "readout"}]}})


def test_a_small_npz_declaring_a_huge_array_is_refused(tmp_path, capsys):
    """2 KB declaring (10^12, 16) float64 (116 TiB): refused from its header, exit 2."""
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as z:
        z.writestr("x.npy", npy_header((10**12, 16)) + bytes(2000))
        z.writestr("y.npy", npy_header((10**12,), "<i8"))
    assert main(["run", str(net_yaml(tmp_path, tmp_path / "d.npz")), "--out",
                 str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "array 'x.npy' declares shape (1000000000000, 16) of float64" in err
    assert "but the file holds 2,128" in err and "Traceback" not in err


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path, capsys, monkeypatch):
    """A compressed npz whose arrays unpack to more than the memory left: exit 3, naming both
    sizes and the limit (here a 64 MiB budget and a 256 MiB array of zeros in 250 KiB)."""
    with zipfile.ZipFile(tmp_path / "d.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", npy_header((256 << 20,), "|u1") + bytes(256 << 20))
    assert (tmp_path / "d.npz").stat().st_size < 300 << 10
    monkeypatch.setattr(memory_budget, "available_bytes", lambda: (64 << 20, "a test limit"))
    assert main(["run", str(net_yaml(tmp_path, tmp_path / "d.npz")), "--out",
                 str(tmp_path / "r")]) == 3
    err = capsys.readouterr().err
    assert "(its arrays unpacked) needs about 256.0 MiB of memory; 64.0 MiB is left under a " \
           "test limit" in err and "Traceback" not in err


def test_the_budget_sees_an_address_space_rlimit():
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
            "from chipsim.memory_budget import available_bytes; print(*available_bytes(), "
            "sep='|')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT)}, check=True).stdout.strip()
    have, limit = out.split("|")
    assert limit == "the address-space limit (ulimit -v)" and 0 < int(have) < 2 << 30


def test_available_is_at_most_what_the_system_reports():
    have, _ = memory_budget.available_bytes()
    assert 0 < have <= memory_budget._read_kib("/proc/meminfo", "MemAvailable:")


def test_npz_data_without_inputs_or_with_complex_values_is_refused(tmp_path, capsys):
    for name, x in (("zero", np.zeros((10, 0))), ("complex", np.ones((10, 4)) * (1 + 1j))):
        np.savez(tmp_path / f"{name}.npz", x=x, y=np.arange(10) % 2)
        assert main(["run", str(net_yaml(tmp_path, tmp_path / f"{name}.npz")), "--out",
                     str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert "expected real numbers shaped (N, in) or (N, T, in) with at least one input" in err


def test_architecture_files_name_the_layer_and_key(tmp_path, capsys):
    """The .yaml beside a weights file: bad values are refused naming layer and key, by the
    same schema machinery as net.yaml (unknown keys and types with a guess)."""
    import yaml

    weights = {"fc": np.ones((3, 4)), "out": np.ones((2, 3))}
    cases = [({"name": "fc", "type": "dense", "units": "abc"}, None,
              "layers.0 ('fc').units: expected an integer >= 1, got 'abc' (str)"),
             ({"name": "fc", "type": "dense"}, None,
              "layers.0 ('fc').units: required, an integer >= 1"),
             ({"name": "fc", "type": "dense", "unit": 3}, None,
              "layers.0 ('fc').unit: unknown key 'unit' (did you mean 'units'?); valid keys in "
              "layers.0: name, type, units, recurrent, neuron, neuron_module"),
             ({"name": "fc", "type": "dens", "units": 3}, None,
              "layers.0 ('fc').type: unknown 'dens' (did you mean 'dense'?); expected one of "
              "'dense', 'conv2d', 'avgpool2d', 'sumpool2d', 'flatten'"),
             ({"name": "fc", "type": "conv2d", "channels": 3, "kernel": 1, "stride": 0}, None,
              "layers.0 ('fc').stride: expected an integer in [1, 4096] or a list of exactly 2 "
              "items, each an integer in [1, 4096], got 0"),
             ({"name": "fc", "type": "dense", "units": 3}, {"tau": float("nan")},
              "neuron.tau: expected a number >= 1.0 or null, got nan")]
    for i, (layer, neuron, expect) in enumerate(cases):
        arch = {"input": [1, 2, 2] if layer["type"] == "conv2d" else [4], "layers": [layer]}
        if neuron:
            arch["neuron"] = neuron
        np.savez(tmp_path / f"m{i}.npz", **weights)
        (tmp_path / f"m{i}.yaml").write_text(yaml.safe_dump(arch))
        assert main(["map", str(tmp_path / f"m{i}.npz"), "--out", str(tmp_path / f"o{i}")]) == 2
        err = capsys.readouterr().err
        assert expect in err and "Traceback" not in err


def test_a_small_torch_file_with_an_expanded_tensor_is_refused(tmp_path, capsys):
    """7 KB holding a stride-0 tensor that stands for 10^10 values (80 GB as float64)."""
    torch = pytest.importorskip("torch")
    state = {"fc.weight": torch.zeros(3, 4), "huge": torch.zeros(1).expand(10**10)}
    torch.save(state, tmp_path / "m.pt")
    assert (tmp_path / "m.pt").stat().st_size < 10_000
    (tmp_path / "m.yaml").write_text("input: [4]\nlayers:\n- {name: fc, type: dense, units: 3}\n")
    assert main(["map", str(tmp_path / "m.pt"), "--out", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err
    assert "(its tensors as float64 arrays) needs about 74.5 GiB of memory" in err


def test_initial_weights_with_arrays_the_network_does_not_use_are_refused(tmp_path, capsys):
    """A misspelt layer name or biases for a network without them: said, not ignored."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "w.npz", fc1=rng.random((128, 64)), out=rng.random((10, 128)),
             **{"fc2": rng.random((10, 128)), "out.bias": np.zeros(10)})
    assert main(["run", str(ROOT / "examples" / "digits_ottt.yaml"), "--out",
                 str(tmp_path / "r"), "--set", f"network.init.weights={tmp_path / 'w.npz'}"]) == 2
    err = capsys.readouterr().err
    assert "arrays the network does not use: fc2, out.bias (a layer name that does not match, " \
           "or biases while network.bias is false)" in err


def test_recordings_that_cannot_fit_are_refused_before_training(tmp_path, capsys,
                                                                monkeypatch):
    """output.record keeps N x T x units values: checked against the memory left before any
    training (here a 4 MiB budget: digits' 451 x 6 x 138 membranes need about 8.5 MiB)."""
    monkeypatch.setattr(memory_budget, "available_bytes", lambda: (4 << 20, "a test limit"))
    assert main(["run", str(ROOT / "examples" / "digits_ottt.yaml"), "--out",
                 str(tmp_path / "r"), "--set", "output.record=[membrane]"]) == 3
    err = capsys.readouterr().err
    assert "this run (mostly output.record ['membrane'] (451 test samples x T = 6 x 138 " \
           "units)) needs about 8.6 MiB of memory; 4.0 MiB is left under a test limit" in err
    assert not (tmp_path / "r").exists()                  # nothing written, no empty folder


def test_a_layer_of_ten_million_units_is_refused_before_allocation(tmp_path, capsys,
                                                                   monkeypatch):
    """10^7 hidden units on digits: 7.4e8 synapses, about 28 GiB at the measured 37-40 bytes
    each; against 16 GiB left it is refused at validation (it used to pass a physical-memory
    check and meet the OOM killer)."""
    monkeypatch.setattr(memory_budget, "available_bytes", lambda: (16 << 30, "a test limit"))
    assert main(["run", str(ROOT / "examples" / "digits_ottt.yaml"), "--out",
                 str(tmp_path / "r"), "--set", "network.layers.0.units=10000000"]) == 2
    err = capsys.readouterr().err
    assert "7.4e+08 synapses need about 27.6 GiB" in err and "16.0 GiB is left under a test " \
           "limit" in err
    assert not (tmp_path / "r").exists()


def test_a_huge_number_of_time_steps_is_refused_before_training(tmp_path, capsys):
    """T = 10^5 and batches of 4096: one encoded batch alone is 4096 x 10^5 x 64 float64
    (about 450 GiB), refused before any work instead of a MemoryError in the first batch."""
    assert main(["run", str(ROOT / "examples" / "digits_ottt.yaml"), "--out",
                 str(tmp_path / "r"), "--set", "data.timesteps=100000",
                 "--set", "learning.batch_size=4096"]) == 3
    err = capsys.readouterr().err
    assert "this run (mostly a training batch (4096 samples x T = 100000 x 64 inputs, " \
           "encoded, with its outputs)) needs about" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("overrides, samples", [
    (["data.timesteps=100000", "learning.batch_size=1"], 1),  # the T = 10^5
    (["data.timesteps=200", "output.record=[spikes, membrane]"], 40),
    (["chip.arithmetic=float64", "learning.rule=bptt", "data.timesteps=50",
      "learning.batch_size=64"], 64)])
def test_the_run_memory_estimate_bounds_the_measured_peak(overrides, samples):
    """The up-front estimate (Simulation.memory_estimate) is at least the peak of what a run
    allocates (numpy's allocations, traced) and not a wild over-estimate (under 8x): T = 10^5
    takes tens of MB, not the 21.5 GiB it once allocated."""
    import tracemalloc

    from chipsim.data import Dataset
    from chipsim.simulation import Simulation

    sim = Simulation(ROOT / "examples" / "digits_ottt.yaml",
                     overrides=overrides + ["learning.epochs=1", "output.plots=false"])
    d = sim.data
    sim.data = Dataset(d.name, d.x_train[:samples], d.y_train[:samples], d.x_test[:samples],
                       d.y_test[:samples], d.n_classes)
    estimate = sum(sim.memory_estimate().values())
    sim.evaluate()  # (epoch 0, untraced: a first compile's own allocations are not the run's)
    tracemalloc.start()
    try:
        sim.train()
        sim.evaluate(record=tuple(sim.config.output.record))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"{overrides}: estimate {estimate / 2**20:.1f} MiB, traced peak {peak / 2**20:.1f} MiB")
    assert peak <= estimate < 8 * peak
