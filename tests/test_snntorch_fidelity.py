"""Import fidelity for what snnTorch users ship: a state_dict of an snn.Leaky network and the
NIR file snnTorch's own exporter writes (float32), both in float64 through chipsim's documented
paths (net.yaml with network.model, and load_model + chipsim.float64.infer), checked spike count
for spike count against snnTorch's own forward on every test sample; then the float32
tolerances, per-neuron tensors and the refusals, each by its message.

The trained network is tests/data/snntorch_digits.pt, which examples/from_snntorch.py's
training wrote (torch.save of the state_dict): training in float32 gives a slightly different
network on a CPU with other vector instructions, and the numbers checked here must not.
"""
from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest
import yaml

from chipsim.errors import DataError

from conftest import ROOT, load_script

torch = pytest.importorskip("torch", reason="needs torch (pip install 'chipsim[torch]')")
snn = pytest.importorskip("snntorch", reason="needs snnTorch (pip install 'chipsim[torch]')")
nir = pytest.importorskip("nir", reason="needs the 'nir' package")
pytest.importorskip("nirtorch", reason="snnTorch's NIR exporter needs nirtorch")

from chipsim.mapping.load import load_model  # noqa: E402


ex = load_script(ROOT / "examples" / "from_snntorch.py")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """snnTorch's tutorial digits network as trained by the example (tests/data), its files
    written by torch.save and snnTorch's exporter, and snnTorch's own spike counts on the
    test set."""
    folder = tmp_path_factory.mktemp("snntorch")
    data = ex.digits()
    net = ex.load_trained(ROOT / "tests" / "data" / "snntorch_digits.pt")
    return {"data": data, "net": net, "folder": folder,
            "pt": ex.save_state_dict(net, folder),
            "nir": ex.save_nir(net, folder),
            "theirs": ex.run_snntorch(net, data.x_test, dtype="float64")}


# ---- (a) the trained network, both files, both paths -----------------------------------------

@pytest.mark.filterwarnings("ignore:nirtorch")
@pytest.mark.parametrize("kind, convention", [("pt", "nir"), ("nir", "snntorch")])
def test_trained_snntorch_network_spike_counts_identical_on_every_test_sample(
        trained, kind, convention):
    data, path, (hidden, output) = trained["data"], trained[kind], trained["theirs"]
    assert hidden.shape == (451, ex.HIDDEN) and output.shape == (451, 10)
    # the network learned and spikes (so identical counts say something)
    assert ex.accuracy(output, data.y_test) > 0.9
    assert 0.05 < hidden.mean() / ex.TIMESTEPS < 0.95 and output.sum() > 451 * ex.TIMESTEPS * 0.5

    network = load_model(path, convention)
    assert [(l.name, l.spiking) for l in network.layers] == [("fc1", True), ("fc2", True)]
    assert network.neuron.leak == float(trained["net"].lif1.beta)       # 0.949999988079071
    assert (network.neuron.firing, network.neuron.reset_at) == (">", "next_step")
    assert sorted(network.biases) == ["fc1", "fc2"]
    ours = ex.run_chipsim(network, data.x_test)                  # load_model + float64.infer
    np.testing.assert_array_equal(ours[0], hidden)
    np.testing.assert_array_equal(ours[1], output)

    run = trained["folder"] / f"run_{kind}"                      # net.yaml, network.model
    report = ex.run_config(path, run)
    assert report["data"]["n_test"] == 451 and report["config"]["data"]["source"] == "digits"
    counts = ex.runner_counts(report, run)
    np.testing.assert_array_equal(counts[0], hidden)
    np.testing.assert_array_equal(counts[1], output)


@pytest.mark.filterwarnings("ignore:nirtorch")
@pytest.mark.parametrize("kind", ["pt", "nir"])
def test_trained_snntorch_network_on_the_chip_at_16_bits(trained, kind, measured):
    """The fixed-point chip (biases in neuron memory, snnTorch's neuron: fire on u > threshold,
    subtract at the next step) with 16-bit weights and a 24-bit membrane: accuracy within 0.5
    points of snnTorch's, the output spike counts equal snnTorch's on >= 98 % of samples."""
    data, (_, output) = trained["data"], trained["theirs"]
    run = trained["folder"] / f"chip16_{kind}"
    cell, numbers = ex.chip_row(trained[kind], run, 16, output)
    theirs = ex.accuracy(output, data.y_test)
    assert abs(numbers["accuracy"] - theirs) <= 0.005, cell
    assert numbers["output_counts_identical_fraction"] >= 0.98, cell
    measured("snntorch/accuracy", theirs, digits=4)     # the README quotes these
    measured(f"snntorch/chip16-{kind}/accuracy", numbers["accuracy"], digits=4)
    measured(f"snntorch/chip16-{kind}/identical", numbers["output_counts_identical_fraction"],
             digits=3)
    report = json.loads((run / "report.json").read_text())
    assert report["config"]["chip"]["arithmetic"] == "fixed"
    assert {q["layer"] for q in report["chip"]["quantization"]} >= {"fc1.bias", "fc2.bias"}


@pytest.mark.filterwarnings("ignore:nirtorch")
def test_snntorch_network_fine_tunes_on_the_8_bit_chip(trained, measured):
    """OTTT on the 8-bit chip (as examples/from_snntorch.py runs it) keeps the imported
    network well above chance and near snnTorch's accuracy (its biases and weights both
    learn)."""
    data, (_, output) = trained["data"], trained["theirs"]
    _, before = ex.chip_row(trained["pt"], trained["folder"] / "chip8", 8, output)
    run = trained["folder"] / "chip8_ottt"
    cell, numbers = ex.chip_row(trained["pt"], run, 8, output, ex.FINE_TUNE)
    assert numbers["accuracy"] > ex.accuracy(output, data.y_test) - 0.03, cell
    measured("snntorch/chip8-pt/accuracy", before["accuracy"], digits=4)
    measured("snntorch/chip8-pt-ottt/accuracy", numbers["accuracy"], digits=4)
    with np.load(run / "weights.npz") as w:
        assert sorted(w.files) == ["fc1", "fc1.bias", "fc2", "fc2.bias"]


@pytest.mark.filterwarnings("ignore:nirtorch")
def test_snntorch_nir_export_is_float32_as_shipped(trained):
    import h5py

    with h5py.File(trained["nir"], "r") as f:
        assert f["node/nodes/lif1/tau"].dtype == np.float32
        assert f["node/nodes/fc1/weight"].dtype == np.float32
    graph = nir.read(str(trained["nir"]))
    tau, r = graph.nodes["lif1"].tau, graph.nodes["lif1"].r
    assert not np.all(1e-4 * r.astype(np.float64) / tau == 1.0)   # r = tau/dt only to float32


def test_per_neuron_tensors_with_equal_values_read_as_the_scalar_ones(trained, tmp_path):
    ready = ex.export_ready(trained["net"])
    assert ready.lif1.beta.shape == (ex.HIDDEN,) and ready.lif2.threshold.shape == (10,)
    scalar = load_model(trained["pt"])
    per_neuron = load_model(ex.save_state_dict(ready, tmp_path))
    assert per_neuron.layers == scalar.layers and per_neuron.neuron == scalar.neuron


# ---- (b) float32 tolerances, per-neuron tensors, refusals ------------------------------------

def _lif_node(n, beta, dtype, dt=1e-4, r_factor=1.0):
    """A LIF node computed as snnTorch's exporter computes it, in ``dtype``."""
    b = np.full(n, beta, dtype=dtype)
    tau = dt / (1 - b)
    return nir.LIF(tau=tau, r=(tau / dt * r_factor).astype(dtype), v_leak=np.zeros_like(b),
                   v_threshold=np.ones_like(b), v_reset=np.zeros_like(b))


def _nir_file(path, node, n=3):
    nodes = {"in": nir.Input(input_type={"input": np.array([2])}),
             "fc": nir.Linear(weight=np.ones((n, 2), dtype=np.float32)), "lif": node,
             "out": nir.Output(output_type={"output": np.array([n])})}
    edges = [("in", "fc"), ("fc", "lif"), ("lif", "out")]
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    return path


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.95, 0.99, 0.7312])
def test_float32_export_reads_with_snntorchs_float32_beta_exactly(tmp_path, beta):
    path = _nir_file(tmp_path / "f32.nir", _lif_node(3, beta, np.float32))
    neuron = load_model(path, "snntorch").neuron
    assert neuron.leak == float(np.float32(beta))   # the leak snnTorch computes with


def test_r_beyond_a_few_ulps_of_its_dtype_is_refused(tmp_path):
    off32 = _nir_file(tmp_path / "a.nir", _lif_node(3, 0.9, np.float32, r_factor=1 + 1e-5))
    with pytest.raises(DataError, match=r"node 'lif' \(LIF\): r = 10\.0000\d+, but snnTorch's "
                                        r"exporter writes r = tau/dt \(expected 9\.99999\d+ "
                                        r"with dt = 0\.0001, to 8 float32 ulps, relative "
                                        r"9\.5e-07\)"):
        load_model(off32, "snntorch")
    # the same miss that float32 forgives is refused in a float64 file (8 float64 ulps)
    off64 = _nir_file(tmp_path / "b.nir", _lif_node(3, 0.9, np.float64, r_factor=1 + 1e-7))
    with pytest.raises(DataError, match=r"to 8 float64 ulps, relative 1\.8e-15"):
        load_model(off64, "snntorch")
    assert load_model(_nir_file(tmp_path / "c.nir", _lif_node(3, 0.9, np.float64)),
                      "snntorch").neuron.leak == 0.9


def _state_dict_file(tmp_path, lif, arch_extra=None, state=None, name="net"):
    torch.manual_seed(0)
    net = torch.nn.Sequential(OrderedDict(fc1=torch.nn.Linear(4, 3), lif1=lif,
                                          fc2=torch.nn.Linear(3, 2)))
    arch = {"input": [4], "layers": [{"name": "fc1", "type": "dense", "units": 3},
                                     {"name": "fc2", "type": "dense", "units": 2,
                                      "neuron": "readout"}]}
    for i, extra in (arch_extra or {}).items():
        arch["layers"][i].update(extra)
    path = tmp_path / f"{name}.pt"
    torch.save(net.state_dict() if state is None else state(net.state_dict()), path)
    path.with_suffix(".yaml").write_text(yaml.safe_dump(arch))
    return path


def test_state_dict_neuron_keys_set_the_layer_before_them(tmp_path):
    lif = snn.Leaky(beta=torch.full((3,), 0.9), threshold=torch.full((3,), 0.5))
    network = load_model(_state_dict_file(tmp_path, lif))
    neuron = network.neuron_of(network.layers[0])
    assert neuron.leak == float(np.float32(0.9)) and neuron.threshold == 0.5
    assert (neuron.reset, neuron.firing, neuron.reset_at) == ("subtract", ">", "next_step")
    zero = load_model(_state_dict_file(tmp_path, snn.Leaky(beta=0.5, reset_mechanism="zero"),
                                       name="zero"))
    assert zero.neuron == type(zero.neuron)(2.0, 1.0, "zero", ">", "same_step")


def test_neuron_module_names_the_module_when_the_order_does_not(tmp_path):
    def neurons_first(state):   # a hand-built dict: lif1's keys before any weights
        return OrderedDict(sorted(state.items(), key=lambda kv: not kv[0].startswith("lif1")))

    lif = snn.Leaky(beta=0.8)
    with pytest.raises(DataError, match=r"neuron module 'lif1' comes before every synaptic "
                                        r"layer's weights.*add neuron_module: lif1"):
        load_model(_state_dict_file(tmp_path, lif, state=neurons_first))
    path = _state_dict_file(tmp_path, lif, {0: {"neuron_module": "lif1"}}, neurons_first)
    assert load_model(path).neuron.leak == float(np.float32(0.8))
    bad = _state_dict_file(tmp_path, lif, {0: {"neuron_module": "lif9"}}, name="bad")
    with pytest.raises(DataError, match=r"layers\[0\] \('fc1'\): neuron_module 'lif9' has no "
                                        r"'lif9\.beta' in the file; neuron modules found: lif1"):
        load_model(bad)


@pytest.mark.parametrize("lif, match", [
    (lambda: snn.Leaky(beta=torch.tensor([0.9, 0.8, 0.9])),
     r"'lif1\.beta' \(the neurons of layer 'fc1'\) holds 2 different values \(from "
     r"0\.800000011920929 to 0\.8999999761581421\); chipsim's neuron parameters are one per layer"),
    (lambda: snn.Leaky(beta=0.9, threshold=torch.tensor([1.0, 1.0, 1.5])),
     r"'lif1\.threshold' \(the neurons of layer 'fc1'\) holds 2 different values"),
    (lambda: snn.Leaky(beta=0.9, graded_spikes_factor=2.0),
     r"'lif1\.graded_spikes_factor' is 2\.0; chipsim's spikes are 0/1, so it must be 1"),
    (lambda: snn.Leaky(beta=0.9, reset_mechanism="none"),
     r"'lif1\.reset_mechanism_val' is 2\.0 \(none\); chipsim maps snnTorch's 0 \('subtract'\)"),
    (lambda: snn.Synaptic(alpha=0.5, beta=0.9, reset_mechanism="zero"),
     r"'lif1' is an snnTorch Synaptic with reset 'zero', which also zeroes its synaptic "
     r"current"),
    (lambda: snn.Leaky(beta=torch.full((5,), 0.9)),
     r"'lif1\.beta' \(the neurons of layer 'fc1'\) has 5 values; expected one, or one per "
     r"neuron \(3\)"),
])
def test_state_dict_neurons_chipsim_cannot_represent_are_refused(tmp_path, lif, match):
    with pytest.raises(DataError, match=r"torch file '.*net\.pt': " + match):
        load_model(_state_dict_file(tmp_path, lif()))


def test_neuron_module_after_a_readout_or_with_a_yaml_neuron_is_refused(tmp_path):
    lif = snn.Leaky(beta=0.9)
    readout = _state_dict_file(tmp_path, lif, {0: {"neuron": "readout"}}, name="a")
    with pytest.raises(DataError, match=r"layer 'fc1' is the read-out \(neuron: readout\) in "
                                        r"the architecture, but neuron module 'lif1' follows"):
        load_model(readout)
    both = _state_dict_file(tmp_path, lif, {0: {"neuron": {"tau": 3.0}}}, name="b")
    with pytest.raises(DataError, match=r"layer 'fc1' has a neuron in the architecture and "
                                        r"neuron module 'lif1' in the file; give it in one place"):
        load_model(both)


def test_neuron_module_in_an_npz_architecture_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, fc1=np.ones((3, 4)))
    path.with_suffix(".yaml").write_text(yaml.safe_dump(
        {"input": [4], "layers": [{"name": "fc1", "type": "dense", "units": 3,
                                   "neuron_module": "lif1"}]}))
    with pytest.raises(DataError, match=r"layers fc1 give neuron_module, which only torch "
                                        r"state_dict files \(\.pt, \.pth\) carry"):
        load_model(path)


def test_float32_cuba_lif_with_identity_synapse_is_accepted(tmp_path):
    """snnTorch's Synaptic with alpha = 0 exports tau_syn = dt/(1 - 0) in float32, so
    1 - dt/tau_syn is ~3e-9, not 0: within float32 precision, the synapse is the identity.
    With alpha = 0.5 the current decays: a CUBA neuron whose lam_syn is that alpha exactly."""
    f32 = lambda v: np.full(3, v, dtype=np.float32)  # noqa: E731
    tau_syn, tau_mem = f32(1e-4), np.float32(1e-4) / (1 - f32(0.9))
    node = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / np.float32(1e-4),
                       v_leak=f32(0), v_threshold=f32(1), v_reset=f32(0),
                       w_in=tau_syn / np.float32(1e-4))
    assert 1 - 1e-4 / float(tau_syn[0]) != 0.0
    network = load_model(_nir_file(tmp_path / "cuba.nir", node), "snntorch")
    assert abs(network.neuron.leak - 0.9) < 1e-7
    slow = nir.CubaLIF(tau_syn=f32(2e-4), tau_mem=tau_mem, r=tau_mem / np.float32(1e-4),
                       v_leak=f32(0), v_threshold=f32(1), v_reset=f32(0), w_in=f32(2.0))
    assert network.neuron.tau_syn == 1.0
    cuba = load_model(_nir_file(tmp_path / "slow.nir", slow), "snntorch")
    assert cuba.neuron.syn_leak == 0.5 and abs(cuba.neuron.leak - 0.9) < 1e-7


@pytest.mark.filterwarnings("ignore:nirtorch")
def test_example_writes_its_table_and_summary(tmp_path, capsys):
    assert ex.main([str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_test"] == 451 and summary["snntorch_accuracy_float64"] > 0.9
    for kind in ("state_dict", "nir"):
        path = summary["paths"][kind]
        assert path["spike_counts_identical_to_snntorch_float64"]
        assert path["runner_float64_identical"]
        assert path["accuracy_float64"] == summary["snntorch_accuracy_float64"]
        # the chip runs them: snnTorch's neuron and biases on the fixed-point chip
        assert path["chip"]["16-bit"]["output_counts_identical_fraction"] >= 0.98
        assert all(cell["accuracy"] > 0.9 for cell in path["chip"].values())
    table = capsys.readouterr().out
    assert "chipsim float64, net.nir" in table and "(spike counts identical)" in table
