"""NIR import and export: chipsim's own round trip, snnTorch's exporter, the spec's convention,
and damaged or hostile files (each refusal checked by its message)."""
import math

import numpy as np
import pytest

from chipsim.cli import main
from chipsim.errors import ConfigError, DataError
from chipsim.float64 import Params, initial_state, step
from chipsim.mapping.network import Conv2d, Dense, Flatten, Network, Neuron, Pool2d

from conftest import ROOT

nir = pytest.importorskip("nir", reason="NIR import/export needs the 'nir' package")

from chipsim.mapping.from_nir import read_nir  # noqa: E402
from chipsim.mapping.to_nir import write_nir  # noqa: E402

EXAMPLE = str(ROOT / "examples" / "digits_ottt.yaml")
FLOAT = ["--set", "chip.arithmetic=float64", "--set", "output.plots=false",
         "--set", "output.record=[spikes, membrane]"]


def simulate(network, x):
    """chipsim's float64 reference over x (T, B, n_in): spikes per spiking layer and read-out,
    each (T, B, n)."""
    params, state = Params.of(network), initial_state(network, x.shape[1])
    spikes, readout = [], []
    for t in range(x.shape[0]):
        state, rec = step(network, params, state, x[t])
        spikes.append([s for s in rec.spikes if s is not None])
        readout.append(rec.u[-1])
    return [np.array(layer) for layer in zip(*spikes)], np.array(readout)


def lif(n, tau=2.0, r=None, v_leak=0.0, v_threshold=1.0, v_reset=0.0, **meta):
    full = lambda v: np.full(n, float(v))  # noqa: E731
    return nir.LIF(tau=full(tau), r=full(tau if r is None else r), v_leak=full(v_leak),
                   v_threshold=full(v_threshold), v_reset=full(v_reset), metadata=meta)


def save(path, nodes, edges):
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    return path


def chain(path, *middle, n_in=2):
    """A file Input -> middle... -> Output, nodes named after their position."""
    names = [f"n{i}" for i in range(len(middle))]
    nodes = {"in": nir.Input(input_type={"input": np.array([n_in])}), **dict(zip(names, middle)),
             "out": nir.Output(output_type={"output": np.array([1])})}
    seq = ["in", *names, "out"]
    return save(path, nodes, list(zip(seq[:-1], seq[1:])))


# ---- (a) chipsim -> NIR -> chipsim, through the CLI ----------------------------------------

def test_trained_network_exports_and_reruns_spike_for_spike(tmp_path):
    first, second = tmp_path / "trained", tmp_path / "imported"
    assert main(["run", EXAMPLE, "--out", str(first), "--set", "learning.epochs=1", *FLOAT]) == 0
    with np.load(first / "weights.npz", allow_pickle=False) as w:
        weights = {k: w[k] for k in w.files}
    network = Network(64, (Dense("fc1", 64, 128), Dense("out", 128, 10, spiking=False)),
                      Neuron(tau=2.0, threshold=1.0, reset="subtract"), weights)
    model = tmp_path / "digits.nir"
    write_nir(network, model)
    back = read_nir(model, convention="chipsim")
    assert back.layers == network.layers and back.neuron == network.neuron
    assert all(np.array_equal(back.weights[k], weights[k]) for k in weights) and not back.biases
    assert main(["run", EXAMPLE, "--out", str(second), "--set", "network.layers=null",
                 "--set", f"network.model={model}", "--set", "network.nir.convention=chipsim",
                 "--set", "learning.rule=none", *FLOAT]) == 0
    with np.load(first / "record.npz") as a, np.load(second / "record.npz") as b:
        assert sorted(a.files) == sorted(b.files) == ["fc1.membrane", "fc1.spikes", "out.membrane"]
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key      # bit for bit, spikes and membranes
        assert a["fc1.spikes"].shape == (451, 6, 128) and a["fc1.spikes"].sum() > 10_000


def test_any_chipsim_network_reads_back_exactly(tmp_path):
    """Per-layer neurons (IF, firing '>', next-step and zero resets), biases, dt = 0.5."""
    rng = np.random.default_rng(3)
    layers = (Dense("a", 5, 7), Dense("b", 7, 6, neuron=Neuron(math.inf, 0.5, "zero")),
              Dense("c", 6, 4, neuron=Neuron(4.0, 2.0, "subtract", ">", "next_step")),
              Dense("out", 4, 3, spiking=False))
    net = Network(5, layers, Neuron(3.0, 1.0), {l.name: rng.normal(size=(l.n_out, l.n_in))
                                                  for l in layers},
                  {"a": rng.normal(size=7), "out": rng.normal(size=3)})
    path = tmp_path / "net.nir"
    write_nir(net, path, dt=0.5)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically
    back = read_nir(path, convention="chipsim")  # dt from the file's metadata
    assert back.layers == net.layers and back.neuron == net.neuron
    for name in net.weights:
        assert np.array_equal(back.weights[name], net.weights[name])
    assert back.biases.keys() == net.biases.keys()
    assert all(np.array_equal(back.biases[k], net.biases[k]) for k in net.biases)
    x = rng.uniform(0, 2, (12, 9, 5))
    (s1, r1), (s2, r2) = simulate(net, x), simulate(back, x)
    assert all(np.array_equal(a, b) for a, b in zip(s1, s2)) and np.array_equal(r1, r2)
    kinds = {type(n).__name__ for n in nir.read(str(path)).nodes.values()}
    assert kinds == {"Input", "Affine", "Linear", "LIF", "IF", "Output"}


def test_conv_pool_flatten_chain_round_trips(tmp_path):
    rng = np.random.default_rng(4)
    conv = Conv2d("conv", (2, 6, 6), 3, (3, 3), (1, 1), (1, 1))
    pool = Pool2d("pool", conv.out_shape, (2, 2), (2, 2), "avg")
    flat = Flatten("flat", pool.out_shape)
    fc = Dense("fc", flat.n_in, 5, spiking=False)
    net = Network(72, (conv, pool, flat, fc), Neuron(2.0, 1.0),
                  {"conv": rng.normal(size=conv.weight_shape), "fc": rng.normal(size=(5, 27))},
                  {"conv": rng.normal(size=3)})
    write_nir(net, tmp_path / "conv.nir")
    back = read_nir(tmp_path / "conv.nir", convention="chipsim")
    assert back.layers == net.layers and back.n_inputs == 72
    assert np.array_equal(back.weights["conv"], net.weights["conv"])
    assert np.array_equal(back.biases["conv"], net.biases["conv"])


# ---- (b) snnTorch's exporter -----------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated")
def test_snntorch_export_reads_back_spike_for_spike(tmp_path):
    torch = pytest.importorskip("torch", reason="the snnTorch round trip needs torch")
    snn = pytest.importorskip("snntorch", reason="the snnTorch round trip needs snntorch")
    pytest.importorskip("nirtorch", reason="snnTorch's NIR exporter needs nirtorch")
    export_to_nir = getattr(snn, "export_to_nir", None)
    if export_to_nir is None:
        from snntorch.export_nir import export_to_nir

    # snnTorch's own spike (H(mem - threshold) = mem - threshold > 0), kept in the membrane's
    # dtype: its surrogates return float32, which a float64 Linear after them refuses.
    def heaviside(x):
        return (x > 0).to(x.dtype)

    def leaky(n, beta, threshold):  # per-neuron tensors: nir's type check refuses 0-d ones
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.full((n,), threshold),
                         spike_grad=heaviside, init_hidden=True)

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 32), leaky(32, 0.5, 1.0),
                              torch.nn.Linear(32, 16), leaky(16, 0.75, 0.5),
                              torch.nn.Linear(16, 4)).double()
    steps, batch = 25, 64
    x = torch.rand(steps, batch, 10, dtype=torch.float64,
                   generator=torch.Generator().manual_seed(1)) * 3
    trains, readout = ([], []), []
    with torch.no_grad():
        for t in range(steps):
            s1 = net[1](net[0](x[t]))
            s2 = net[3](net[2](s1))
            readout.append(net[4](s2).numpy())
            trains[0].append(s1.numpy())
            trains[1].append(s2.numpy())
        path = tmp_path / "snntorch.nir"
        nir.write(str(path), export_to_nir(net, x[0, :1], ignore_dims=[0]))

    network = read_nir(path, convention="snntorch")
    assert [n.firing for n in map(network.neuron_of, network.layers[:2])] == [">", ">"]
    assert network.neuron_of(network.layers[1]).leak == 0.75
    spikes, out = simulate(network, x.numpy())
    for ours, theirs in zip(spikes, trains):
        theirs = np.array(theirs)
        assert np.array_equal(ours.sum(axis=0), theirs.sum(axis=0))  # spike counts: identical
        assert np.array_equal(ours, theirs)                          # and every spike time
    assert sum(int(s.sum()) for s in spikes) == 5641 + 1476          # measured; not a tolerance
    assert np.allclose(out, np.array(readout), rtol=1e-12, atol=1e-12)

    # Read by the spec alone, the same file resets to v_reset = 0: other spike counts.
    spec, _ = simulate(read_nir(path, convention="nir", dt=1e-4), x.numpy())
    assert not np.array_equal(spec[0].sum(axis=0), np.array(trains[0]).sum(axis=0))


# ---- (c) the spec's convention by hand ------------------------------------------------------

def test_nir_convention_discretises_by_forward_euler(tmp_path):
    path = chain(tmp_path / "hand.nir",
                 nir.Affine(weight=np.array([[1.0, 2.0]]), bias=np.array([0.5])),
                 lif(1, tau=2.0, r=1.0),
                 nir.Linear(weight=np.array([[3.0]])),
                 nir.LI(tau=np.array([1.0]), r=np.array([2.0]), v_leak=np.array([0.0])))
    net = read_nir(path, convention="nir", dt=1.0)
    hidden = net.neuron_of(net.layers[0])
    # lam = 1 - dt/tau = 0.5; input scale dt r/tau = 0.5 folded into W and b
    assert hidden == Neuron(tau=2.0, threshold=1.0, reset="zero", firing=">",
                            reset_at="same_step")
    assert hidden.leak == 0.5
    assert np.array_equal(net.weights["n0"], [[0.5, 1.0]])
    assert np.array_equal(net.biases["n0"], [0.25])
    # LI read-out with tau = dt: no leak to drop; scale dt r/tau = 2
    assert not net.layers[1].spiking and np.array_equal(net.weights["n2"], [[6.0]])
    # by hand, x = (1, 0.25): I = 1 + 0.5 + 0.5 = 2, scaled 1.0 per step.
    # v1 = 0.5*0 + 1 = 1 (a tie: no spike under '>'); v2 = 0.5*1 + 1 = 1.5 > 1: spike, v = 0;
    # v3 = 0 + 1 = 1: no spike.
    x = np.tile([[[1.0, 0.25]]], (3, 1, 1))
    (s,), out = simulate(net, x)
    assert s[:, 0, 0].tolist() == [0.0, 1.0, 0.0]
    assert out[:, 0, 0].tolist() == [0.0, 6.0, 0.0]


def test_cuba_lif_is_a_cuba_neuron_and_its_input_scale_is_folded(tmp_path):
    """tau_syn = dt: no synaptic current; tau_syn = 2 dt: lam_syn = 0.5, and the spec's input
    scale (dt/tau_syn) w_in dt r/tau_mem = 0.5 goes into the weights; tau_syn < dt (a negative
    decay) and a CubaLI read-out with a decaying current are refused."""
    def cuba(tau_syn, kind=nir.CubaLIF):
        one = np.ones(1)
        extra = {} if kind is nir.CubaLI else {"v_threshold": one, "v_reset": 0 * one}
        return kind(tau_syn=one * tau_syn, tau_mem=one * 4.0, r=one * 4.0, v_leak=0 * one,
                    w_in=one, **extra)
    ok = read_nir(chain(tmp_path / "ok.nir", nir.Linear(weight=np.ones((1, 2))), cuba(1.0)))
    assert ok.neuron.leak == 0.75 and ok.neuron.tau_syn == 1.0
    assert np.array_equal(ok.weights["n0"], np.ones((1, 2)))
    slow = read_nir(chain(tmp_path / "slow.nir", nir.Linear(weight=np.ones((1, 2))), cuba(2.0)))
    assert slow.neuron.syn_leak == 0.5 and np.array_equal(slow.weights["n0"], np.full((1, 2), 0.5))
    with pytest.raises(DataError, match=r"node 'n1' \(CubaLIF\): tau_syn = 0.5 with dt = 1.0 "
                                        r"gives a synaptic decay .* must be in \[0, 1\)"):
        read_nir(chain(tmp_path / "bad.nir", nir.Linear(weight=np.ones((1, 2))), cuba(0.5)))
    with pytest.raises(DataError, match=r"a CubaLI read-out with tau_syn = 2.0 > dt"):
        read_nir(chain(tmp_path / "li.nir", nir.Linear(weight=np.ones((1, 2))),
                       cuba(2.0, nir.CubaLI)))


@pytest.mark.parametrize("neuron, message", [
    (lif(1, v_leak=0.1), r"node 'n1' \(LIF\): v_leak = 0.1; chipsim's neurons rest at 0"),
    (lif(1, v_reset=-1.0), r"node 'n1' \(LIF\): v_reset = -1.0; chipsim resets to 0"),
    (lif(1, tau=0.5, r=0.5), r"dt = 1.0 exceeds tau = 0.5.*use a smaller dt"),
])
def test_unrepresentable_neurons_are_refused(tmp_path, neuron, message):
    path = chain(tmp_path / "n.nir", nir.Linear(weight=np.ones((1, 2))), neuron)
    with pytest.raises(DataError, match=message):
        read_nir(path, convention="nir")


def test_snntorch_convention_checks_r_against_dt(tmp_path):
    path = chain(tmp_path / "n.nir", nir.Linear(weight=np.ones((1, 2))), lif(1, tau=2.0, r=1.0))
    with pytest.raises(DataError, match=r"r = 1.0, but snnTorch's exporter writes r = tau/dt"):
        read_nir(path, convention="snntorch", dt=1.0)


# ---- (d) damaged and hostile files ----------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4,
                                     np.random.default_rng(0).bytes(5000)])
def test_damaged_files_are_data_errors(tmp_path, content):
    path = tmp_path / "bad.nir"
    path.write_bytes(content)
    with pytest.raises(DataError, match="is not a readable NIR graph"):
        read_nir(path)


def test_truncated_file_is_a_data_error(tmp_path):
    good = tmp_path / "good.nir"
    chain(good, nir.Linear(weight=np.ones((1, 2))))
    data = good.read_bytes()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 100):
        (tmp_path / "cut.nir").write_bytes(data[:cut])
        with pytest.raises(DataError):
            read_nir(tmp_path / "cut.nir")


def test_damaged_model_file_exits_2_from_the_cli(tmp_path, capsys):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5 at all")
    status = main(["run", EXAMPLE, "--out", str(tmp_path / "r"), "--set", "network.layers=null",
                   "--set", f"network.model={bad}", *FLOAT])
    assert status == 2 and "not a readable NIR graph" in capsys.readouterr().err


def test_oversized_arrays_are_refused_before_reading(tmp_path):
    """A few-KiB file declaring a 28 GiB weight (chunks never written) is not allocated."""
    import h5py

    path = tmp_path / "huge.nir"
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="1.0", dtype=h5py.string_dtype())
        f.create_dataset("node/type", data="Linear", dtype=h5py.string_dtype())
        f.create_dataset("node/weight", shape=(60_000, 60_000), dtype="f8", chunks=(1000, 1000),
                         compression="gzip")
    assert path.stat().st_size < 100_000
    with pytest.raises(DataError, match=r"its arrays hold 26.8 GiB \(largest: 'node/weight'\)"):
        read_nir(path)


def test_branch_is_refused_naming_the_node(tmp_path):
    w = np.ones((1, 2))
    nodes = {"in": nir.Input(input_type={"input": np.array([2])}), "split": nir.Linear(weight=w),
             "a": lif(1), "b": lif(1), "out": nir.Output(output_type={"output": np.array([1])})}
    edges = [("in", "split"), ("split", "a"), ("split", "b"), ("a", "out"), ("b", "out")]
    with pytest.raises(DataError, match=r"node 'split' \(Linear\) branches to 'a', 'b'"):
        read_nir(save(tmp_path / "branch.nir", nodes, edges))


def test_recurrent_output_layer_and_other_cycles_are_refused_naming_the_node(tmp_path):
    """A neuron's own loop (lif -> rec -> lif) makes a recurrent hidden layer
    (tests/test_recurrent.py); on the output layer it is refused, and so is a loop from one
    layer's neurons back to another's."""
    nodes = {"in": nir.Input(input_type={"input": np.array([2])}),
             "fc": nir.Linear(weight=np.ones((2, 2))), "lif": lif(2),
             "rec": nir.Linear(weight=np.eye(2)),
             "out": nir.Output(output_type={"output": np.array([2])})}
    edges = [("in", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")]
    with pytest.raises(DataError, match=r"the output layer 'fc' is recurrent"):
        read_nir(save(tmp_path / "rec.nir", nodes, edges))
    nodes.update({"fc2": nir.Linear(weight=np.ones((2, 2))), "lif2": lif(2)})
    edges = [("in", "fc"), ("fc", "lif"), ("lif", "fc2"), ("fc2", "lif2"), ("lif2", "rec"),
             ("rec", "lif"), ("lif2", "out")]
    with pytest.raises(DataError, match=r"node 'lif' \(LIF\) receives edges from 'fc', 'rec' "
                                        r"\(a merge or a recurrent connection\)"):
        read_nir(save(tmp_path / "loop.nir", nodes, edges))


def test_unsupported_node_is_refused_naming_its_type(tmp_path):
    path = chain(tmp_path / "delay.nir", nir.Linear(weight=np.ones((1, 2))),
                 nir.Delay(delay=np.ones(1)))
    with pytest.raises(DataError, match=r"node 'n1' \(Delay\): chipsim does not read Delay "
                                        r"nodes; it reads Input, Output, Affine"):
        read_nir(path)


def test_non_uniform_thresholds_are_refused(tmp_path):
    neuron = lif(3)
    neuron.v_threshold = np.array([1.0, 1.0, 1.5])
    path = chain(tmp_path / "thr.nir", nir.Linear(weight=np.ones((3, 2))), neuron,
                 nir.Linear(weight=np.ones((1, 3))))
    with pytest.raises(DataError, match=r"node 'n1' \(LIF\): v_threshold differs across the "
                                        r"layer's neurons \(from 1.0 to 1.5, 2 distinct"):
        read_nir(path)


def test_structural_problems_are_named(tmp_path):
    w = np.ones((1, 2))
    with pytest.raises(DataError, match=r"synaptic node 'n0' \(Linear\) feeds synaptic node "
                                        r"'n1' \(Linear\) directly"):
        read_nir(chain(tmp_path / "a.nir", nir.Linear(weight=w),
                       nir.Linear(weight=np.ones((1, 1)))))
    with pytest.raises(DataError, match=r"node 'n0' \(LIF\) is not preceded by a synaptic node"):
        read_nir(chain(tmp_path / "b.nir", lif(2), nir.Linear(weight=w)))
    with pytest.raises(DataError, match=r"weight \(out, in\) = \(1, 3\) takes 3 inputs, but the "
                                        r"activity arriving has shape \[2\]"):
        read_nir(chain(tmp_path / "c.nir", nir.Linear(weight=np.ones((1, 3)))))
    nodes = {"in": nir.Input(input_type={"input": np.array([2])}), "fc": nir.Linear(weight=w),
             "lost": nir.Linear(weight=w), "out": nir.Output(output_type={"output": np.array([1])})}
    with pytest.raises(DataError, match=r"nodes 'lost' are not on the path from Input 'in'"):
        read_nir(save(tmp_path / "d.nir", nodes, [("in", "fc"), ("fc", "out")]))
    with pytest.raises(DataError, match=r"'.*missing.nir' not found"):
        read_nir(tmp_path / "missing.nir")
    with pytest.raises(ConfigError, match=r"network.nir.convention: unknown 'norse'"):
        read_nir(tmp_path / "d.nir", convention="norse")
    with pytest.raises(ConfigError, match=r"network.nir.dt: expected a positive number"):
        read_nir(tmp_path / "d.nir", dt=-1.0)
