"""Recurrent layers: u[t] = lam v[t-1] + W x[t] + W_rec s[t-1], weights [W | W_rec]. In
float64: the forward pass against a plain loop, BPTT through the recurrence against torch's
autograd, OTTT against BPTT where OTTT is exact. On the chip: the kernels against their twins
and the rows the layer's own spikes read, wide formats against float64, the cost model's
recurrent packets and rows. The config's refusals and a run that saves and reloads."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from chipsim.cli import main
from chipsim.float64 import Params
from chipsim.mapping.network import Dense, Network, Neuron
from chipsim.rules.bptt import BPTT
from chipsim.rules.loss import step_loss_grad
from chipsim.rules.ottt import OTTT
from test_float64 import run_records

N_IN, HIDDEN, CLASSES = 5, 7, 3


def recurrent_net(rng, w_rec_scale=0.5, neuron=Neuron()):
    layers = (Dense("h", N_IN, HIDDEN, recurrent=True),
              Dense("out", HIDDEN, CLASSES, spiking=False))
    w = np.hstack([rng.normal(0.4, 0.6, (HIDDEN, N_IN)),
                   w_rec_scale * rng.normal(0.0, 0.5, (HIDDEN, HIDDEN))])
    return Network(N_IN, layers, neuron, {"h": w, "out": rng.normal(0, 0.6, (CLASSES, HIDDEN))}, {})


def recorded_batch(seed: int, steps: int, batch: int):
    """A seeded recurrent net, a random spike batch with labels, and its step records."""
    rng = np.random.default_rng(seed)
    net = recurrent_net(rng)
    x = (rng.random((batch, steps, N_IN)) < 0.5).astype(float)
    y = rng.integers(0, CLASSES, batch)
    return (net, x, y, *run_records(net, x))


def gradients(rule, recs, params, y):
    rule.begin(y)
    for t, rec in enumerate(recs):
        rule.step(t, rec, params.weights)
    return rule.end(params.weights)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_the_forward_pass_is_the_recurrence_written_as_a_loop(reset):
    rng = np.random.default_rng(1)
    net = recurrent_net(rng, neuron=Neuron(2.0, 1.0, reset))
    x = (rng.random((2, 9, N_IN)) < 0.5).astype(float)
    _, recs = run_records(net, x)
    w, w_rec, w_out = net.weights["h"][:, :N_IN], net.weights["h"][:, N_IN:], net.weights["out"]
    for b in range(2):
        v, s = np.zeros(HIDDEN), np.zeros(HIDDEN)
        for t in range(9):
            u = np.zeros(HIDDEN)
            for i in range(HIDDEN):
                u[i] = 0.5 * v[i] + sum(w[i, j] * x[b, t, j] for j in range(N_IN)) \
                    + sum(w_rec[i, j] * s[j] for j in range(HIDDEN))
            s = (u >= 1.0).astype(float)
            v = u - s if reset == "subtract" else u * (1 - s)
            assert np.allclose(recs[t].u[0][b], u, rtol=1e-13, atol=1e-13)
            assert np.array_equal(recs[t].spikes[0][b], s)
            assert np.allclose(recs[t].u[1][b], w_out @ s, rtol=1e-13, atol=1e-13)
    assert sum(r.spikes[0].sum() for r in recs) > 10  # the recurrence carries spikes


def torch_spike(torch):
    """torch's spike function as chipsim's BPTT differentiates it: heaviside forward (a tie
    fires), the sigmoid surrogate (alpha 4) backward."""
    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return (z >= 0).to(z.dtype)

        @staticmethod
        def backward(ctx, g):
            z, = ctx.saved_tensors
            sig = torch.sigmoid(4.0 * z)
            return g * 4.0 * sig * (1 - sig)
    return Spike


def test_bptt_through_the_recurrence_is_torch_autograds_gradient():
    """The same network in torch (heaviside forward, chipsim's sigmoid surrogate backward,
    the reset detached as the paper), the same dL/do[t] per step: torch.autograd's
    gradients of W, W_rec and the read-out equal chipsim's BPTT."""
    torch = pytest.importorskip("torch", reason="needs torch (pip install 'chipsim[torch]')")
    Spike = torch_spike(torch)
    steps, batch = 8, 3
    net, x, y, params, recs = recorded_batch(5, steps, batch)
    grads = gradients(BPTT(timesteps=steps, chain=net.chain), recs, params, y)

    w_h = torch.tensor(net.weights["h"], requires_grad=True)
    w_out = torch.tensor(net.weights["out"], requires_grad=True)
    xt = torch.tensor(x)
    v = torch.zeros(batch, HIDDEN, dtype=torch.float64)
    s = torch.zeros(batch, HIDDEN, dtype=torch.float64)
    outputs = []
    for t in range(steps):
        u = 0.5 * v + torch.cat([xt[:, t], s], dim=1) @ w_h.T
        s = Spike.apply(u - 1.0)
        v = u - s.detach()
        outputs.append(s @ w_out.T)
    deltas = [torch.tensor(step_loss_grad(o.detach().numpy(), y, 0.05, steps)) for o in outputs]
    torch.autograd.backward(outputs, deltas)
    assert np.allclose(grads[0][0], w_h.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert np.allclose(grads[0][1], w_out.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert np.abs(grads[0][0][:, N_IN:]).max() > 1e-3   # W_rec does learn


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ottt_equals_bptt_when_no_error_runs_through_the_recurrence(seed):
    """With W_rec = 0 nothing flows back through the layer's own spikes, and with the reset
    detached and an input trace OTTT_A's gradient of the layer is BPTT's exactly, W_rec's too:
    the trace of the layer's own past spikes sums what BPTT's recursion sums. With W_rec != 0
    BPTT also sends the error back through the recurrence, which OTTT leaves out."""
    rng = np.random.default_rng(seed)
    x = (rng.random((2, 6, N_IN)) < 0.5).astype(float)
    y = rng.integers(0, CLASSES, 2)
    for scale, equal in ((0.0, True), (0.5, False)):
        net = recurrent_net(np.random.default_rng(seed), w_rec_scale=scale)
        params, recs = run_records(net, x)
        chain = net.chain
        g_ottt = gradients(OTTT(input_trace=True, timesteps=6, chain=chain), recs, params, y)
        g_bptt = gradients(BPTT(timesteps=6, chain=chain), recs, params, y)
        # the recurrent layer's [W | W_rec] (the read-out learns from traces: never exact)
        assert np.allclose(g_ottt[0][0], g_bptt[0][0], rtol=1e-10, atol=1e-14) == equal
        if equal:
            assert np.abs(g_bptt[0][0][:, N_IN:]).max() > 1e-4   # the W_rec part is compared


def test_recurrent_layers_are_refused_where_they_do_not_run(tmp_path, capsys):
    base = {"data": {"source": "digits", "timesteps": 4},
            "network": {"layers": [{"name": "h", "units": 16, "recurrent": True},
                                   {"name": "out", "units": 10, "neuron": "readout"}]},
            "learning": {"epochs": 1}, "output": {"plots": False}}
    cases = [({"network": {"layers": [{"name": "h", "units": 16},
                                      {"name": "out", "units": 10, "recurrent": True}]},
               "chip": {"arithmetic": "float64"}},
              "network.layers.1.recurrent: only a hidden spiking dense layer can be recurrent")]
    for i, (change, message) in enumerate(cases):
        path = tmp_path / f"c{i}.yaml"
        path.write_text(yaml.safe_dump({**base, **change}))
        assert main(["run", str(path), "--out", str(tmp_path / f"r{i}")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_a_recurrent_run_saves_and_reloads_in_float64_and_on_the_chip(tmp_path, capsys):
    config = {"seed": 0, "data": {"source": "digits", "timesteps": 4},
              "network": {"layers": [{"name": "h", "units": 32, "recurrent": True},
                                     {"name": "out", "units": 10, "neuron": "readout"}]},
              "learning": {"epochs": 2, "batch_size": 8, "optimizer": {"lr": 0.5}},
              "chip": {"arithmetic": "float64"}, "output": {"plots": False}}
    path = tmp_path / "rec.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 0
    trained = np.load(tmp_path / "run" / "weights.npz")
    assert trained["h"].shape == (32, 64 + 32)
    report = yaml.safe_load((tmp_path / "run" / "report.json").read_text())
    assert report["final"]["test_accuracy"] > 0.5
    reload = {"data": config["data"], "network": {"model": str(tmp_path / "run")},
              "learning": {"rule": "none"}, "output": {"plots": False}}
    for arithmetic in ("float64", "fixed"):
        path.write_text(yaml.safe_dump({**reload, "chip": {"arithmetic": arithmetic}}))
        assert main(["run", str(path), "--out", str(tmp_path / arithmetic)]) == 0
    again = yaml.safe_load((tmp_path / "float64" / "report.json").read_text())
    assert again["final"]["test_accuracy"] == report["final"]["test_accuracy"]
    chip = yaml.safe_load((tmp_path / "fixed" / "report.json").read_text())
    # 8-bit weights of the float64-trained net: within a few points
    assert chip["final"]["test_accuracy"] > report["final"]["test_accuracy"] - 0.05


def rleaky_net(torch, snn, rng, hidden=12, classes=4):
    """Linear -> RLeaky -> Linear -> Leaky, dyadic weights and biases, beta 0.5 (per-neuron
    tensors: what snnTorch's exporter needs)."""
    dyadic = lambda *shape: torch.tensor(rng.integers(-8, 13, shape) / 16.0)  # noqa: E731
    full = lambda n, v: torch.full((n,), v)  # noqa: E731
    net = torch.nn.Sequential(
        torch.nn.Linear(N_IN, hidden),
        snn.RLeaky(beta=full(hidden, 0.5), threshold=full(hidden, 1.0), linear_features=hidden,
                   init_hidden=True),
        torch.nn.Linear(hidden, classes),
        snn.Leaky(beta=full(classes, 0.5), threshold=full(classes, 1.0), init_hidden=True))
    with torch.no_grad():
        for m in (net[0], net[1].recurrent, net[2]):
            m.weight.copy_(dyadic(*m.weight.shape))
            m.bias.copy_(dyadic(*m.bias.shape))
    return net


def snntorch_spikes(torch, net, x):
    """snnTorch's own forward (float32: exact on the dyadic values): spikes per neuron layer,
    (N, T, units) each."""
    from snntorch import utils

    utils.reset(net)
    spikes = [[], []]
    with torch.no_grad():
        for t in range(x.shape[1]):
            out = torch.from_numpy(x[:, t]).float()
            for k, m in enumerate(net):
                out = m(out)
                if k in (1, 3):
                    spikes[k // 2].append(out.numpy().copy())
    return [np.stack(s, axis=1).astype(np.uint8) for s in spikes]


@pytest.mark.filterwarnings("ignore:nirtorch")
@pytest.mark.parametrize("path", ["nir", "module"])
def test_snntorch_rleaky_spikes_as_in_snntorch(tmp_path, path):
    """snnTorch's RLeaky (a recurrent nn.Linear with its bias, reset at the next step) in a
    Linear -> RLeaky -> Linear -> Leaky net, through snnTorch's own export_to_nir (read with
    the snnTorch convention) or the module itself (from_torch): chipsim's float64 spikes equal
    snnTorch's own forward in every layer at every step. Dyadic weights and beta 0.5 keep
    every sum exact in both."""
    torch = pytest.importorskip("torch", reason="needs torch (pip install 'chipsim[torch]')")
    snn = pytest.importorskip("snntorch", reason="needs snnTorch (pip install 'chipsim[torch]')")
    from chipsim.float64 import infer

    rng = np.random.default_rng(2)
    net = rleaky_net(torch, snn, rng)
    if path == "nir":
        nir = pytest.importorskip("nir", reason="needs the 'nir' package")
        pytest.importorskip("nirtorch", reason="snnTorch's NIR exporter needs nirtorch")
        from snntorch.export_nir import export_to_nir

        from chipsim.mapping.load import load_model

        nir.write(tmp_path / "rleaky.nir",
                  export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0]))
        network = load_model(tmp_path / "rleaky.nir", "snntorch")
    else:
        from chipsim.mapping.from_torch import from_torch

        network = from_torch(net, N_IN)
    assert [layer.recurrent for layer in network.synaptic] == [True, False]
    x = (rng.random((20, 16, N_IN)) < 0.4).astype(np.float64)
    theirs = snntorch_spikes(torch, net, x)
    _, rec = infer(network, Params.of(network), x, record=("spikes",))
    names = [layer.name for layer in network.synaptic]
    for name, spikes in zip(names, theirs):
        assert np.array_equal(rec[f"{name}.spikes"], spikes), name
    assert theirs[0].mean() > 0.05 and theirs[1].sum() > 0  # the layers do spike


def test_a_nested_rleaky_graph_reads_as_the_flat_one(tmp_path):
    """Older snnTorch exporters wrote RLeaky as a nested graph (Input -> lif <-> w_rec ->
    Output inside a node of its own); it reads as the flat cycle the current one writes."""
    nir = pytest.importorskip("nir", reason="needs the 'nir' package")
    from chipsim.mapping.load import load_model

    rng = np.random.default_rng(0)
    n, h = 4, 3
    lif = dict(tau=np.full(h, 2e-4), r=np.full(h, 2.0), v_leak=np.zeros(h),
               v_threshold=np.ones(h), v_reset=np.zeros(h))
    fc1 = nir.Affine(weight=rng.normal(size=(h, n)), bias=rng.normal(size=h))
    w_rec = nir.Affine(weight=rng.normal(size=(h, h)), bias=rng.normal(size=h))
    fc2 = nir.Linear(weight=rng.normal(size=(2, h)))
    flat = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([n])}), "fc1": fc1,
               "lif1.lif": nir.LIF(**lif), "lif1.w_rec": w_rec, "fc2": fc2,
               "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "fc1"), ("fc1", "lif1.lif"), ("lif1.lif", "lif1.w_rec"),
               ("lif1.w_rec", "lif1.lif"), ("lif1.lif", "fc2"), ("fc2", "output")])
    inner = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([h])}), "lif": nir.LIF(**lif),
               "w_rec": w_rec, "output": nir.Output(output_type={"output": np.array([h])})},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    nested = nir.NIRGraph(
        nodes={"input": flat.nodes["input"], "fc1": fc1, "lif1": inner, "fc2": fc2,
               "output": flat.nodes["output"]},
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "output")])
    nets = []
    for name, graph in (("flat", flat), ("nested", nested)):
        nir.write(tmp_path / f"{name}.nir", graph)
        nets.append(load_model(tmp_path / f"{name}.nir", "snntorch"))
    a, b = nets
    assert [l.recurrent for l in a.synaptic] == [True, False]
    assert [(l.name, l.kind, l.recurrent) for l in a.layers] == \
        [(l.name, l.kind, l.recurrent) for l in b.layers]
    for key in a.weights:
        assert np.array_equal(a.weights[key], b.weights[key])
    # snnTorch's convention: r = tau / dt, the input enters unscaled
    assert np.array_equal(a.weights["fc1"], np.hstack([fc1.weight, w_rec.weight]))
    assert np.array_equal(a.biases["fc1"], fc1.bias + w_rec.bias)


def test_snntorch_rleaky_from_its_state_dict_spikes_as_in_snntorch(tmp_path):
    """torch.save(net.state_dict()) of the same RLeaky network with its architecture beside
    it (the layers only: the file's lif1.recurrent.weight makes fc1 recurrent)."""
    torch = pytest.importorskip("torch", reason="needs torch (pip install 'chipsim[torch]')")
    snn = pytest.importorskip("snntorch", reason="needs snnTorch (pip install 'chipsim[torch]')")
    from chipsim.float64 import infer
    from chipsim.mapping.load import load_model

    rng = np.random.default_rng(4)
    net = rleaky_net(torch, snn, rng)
    torch.save(net.state_dict(), tmp_path / "net.pt")
    (tmp_path / "net.yaml").write_text(yaml.safe_dump({
        "input": [N_IN], "layers": [{"name": "0", "type": "dense", "units": 12},
                                    {"name": "2", "type": "dense", "units": 4}]}))
    network = load_model(tmp_path / "net.pt")
    assert [layer.recurrent for layer in network.synaptic] == [True, False]
    x = (rng.random((20, 16, N_IN)) < 0.4).astype(np.float64)
    theirs = snntorch_spikes(torch, net, x)
    _, rec = infer(network, Params.of(network), x, record=("spikes",))
    for name, spikes in zip(["0", "2"], theirs):
        assert np.array_equal(rec[f"{name}.spikes"], spikes), name
    assert theirs[0].mean() > 0.05


def test_ottt_a_on_a_recurrent_layer_is_the_three_factor_sum_written_as_a_loop():
    """OTTT_A's gradient with W_rec != 0, against its definition written out per step: the
    read-out learns from the hidden trace a[t], the hidden layer's W from the raw input x[t]
    and its W_rec from its own trace a[t-1], both with the instantaneous error
    (dL/do[t] W_out) x sigma'(u[t] - 1)."""
    from chipsim.rules.surrogate import sigmoid_surrogate

    steps, batch = 7, 3
    net, x, y, params, recs = recorded_batch(9, steps, batch)
    (g_h, g_out), _ = gradients(OTTT(timesteps=steps, chain=net.chain), recs, params, y)
    w_out = net.weights["out"]
    want_h, want_out = np.zeros_like(g_h), np.zeros_like(g_out)
    a_prev = np.zeros((batch, HIDDEN))
    v, s = np.zeros((batch, HIDDEN)), np.zeros((batch, HIDDEN))
    for t in range(steps):
        u = 0.5 * v + np.hstack([x[:, t], s]) @ net.weights["h"].T
        s = (u >= 1.0).astype(float)
        v = u - s
        a = 0.5 * a_prev + s
        o = s @ w_out.T
        d_out = step_loss_grad(o, y, 0.05, steps)
        d_h = (d_out @ w_out) * sigmoid_surrogate(u - 1.0, 4.0)
        want_out += d_out.T @ a
        want_h += d_h.T @ np.hstack([x[:, t], a_prev])
        a_prev = a
    assert np.allclose(g_out, want_out, rtol=1e-12, atol=1e-14)
    assert np.allclose(g_h, want_h, rtol=1e-12, atol=1e-14)
    assert np.abs(want_h[:, N_IN:]).max() > 1e-4


# ----------------------------------------------------------------------------- on the chip
def delayed_xor_config(**learning) -> dict:
    """A small recurrent net on delayed XOR (binary input spikes, T = 20)."""
    return {"seed": 0, "data": {"source": "delayed_xor", "timesteps": 20,
                                "delayed_xor": {"cue": 4, "delay": 6, "channels": 8,
                                                "train": 16, "test": 16}},
            "network": {"neuron": {"tau": 8.0},
                        "layers": [{"name": "h", "units": 24, "recurrent": True},
                                   {"name": "out", "units": 2, "neuron": "readout"}]},
            "learning": {"epochs": 1, "batch_size": 8, "optimizer": {"lr": 0.5}, **learning},
            "output": {"plots": False}}


@pytest.mark.parametrize("variant,input_trace", [("A", False), ("O", True)])
def test_recurrent_chip_kernels_equal_their_twins_and_read_the_last_steps_spikes(
        variant, input_trace):
    from chipsim.chip import counters as ev
    from chipsim.simulation import Simulation
    from test_chip import assert_same_state, twin_of
    config = delayed_xor_config(variant=variant, batch_size=8 if variant == "A" else 1)
    config["network"]["input_trace"] = input_trace
    sim = Simulation(config)
    chip, data = sim.chip, sim.data
    twin = twin_of(chip)
    x = data.x_train[:8].astype(float)
    for start in range(0, 8, config["learning"]["batch_size"]):
        batch = slice(start, start + config["learning"]["batch_size"])
        assert np.array_equal(chip.train_batch(x[batch], data.y_train[batch]),
                              twin.train_batch(x[batch], data.y_train[batch]))
        assert_same_state(chip, twin)
    assert chip.registers.counters[0, ev.RECURRENT_ROWS_READ] > 0
    preds, rec = chip.infer(x, ("spikes",))
    preds_twin, rec_twin = twin.infer(x, ("spikes",))
    assert np.array_equal(preds, preds_twin) and np.array_equal(rec["h.spikes"], rec_twin["h.spikes"])
    assert_same_state(chip, twin)
    # the layer's own rows are read by its spikes of the last step (none after the last step)
    spikes = rec["h.spikes"]
    assert chip.inference_counts[0, ev.RECURRENT_ROWS_READ] == spikes[:, :-1].sum()
    assert chip.inference_counts[0, ev.SYNAPSE_ROWS_READ] == (
        np.count_nonzero(x) + spikes[:, :-1].sum())


@pytest.mark.parametrize("variant,input_trace,train", [("A", False, 16), ("A", True, 16),
                                                        ("O", False, 4)])
def test_recurrent_chip_with_wide_formats_converges_to_float64(tmp_path, variant, input_trace,
                                                               train):
    """Two OTTT_A batches (or four OTTT_O samples) on the chip with wide formats: the weights,
    W_rec included, within 1e-4 of float64's (longer runs part where a spike flips)."""
    config = delayed_xor_config(variant=variant, batch_size=8 if variant == "A" else 1)
    config["network"]["input_trace"] = input_trace
    config["data"]["delayed_xor"]["train"] = train
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    wide = ["chip.arithmetic=fixed", "chip.rounding=nearest",
            "chip.bits={weight: 32, membrane: 46, trace: 20, error: 20, surrogate: 16, "
            "accumulator: 46, input: 8, learning_rate: 16}"]
    sets = lambda items: [a for o in items for a in ("--set", o)]  # noqa: E731
    assert main(["run", str(path), "--out", str(tmp_path / "f"),
                 "--set", "chip.arithmetic=float64"]) == 0
    assert main(["run", str(path), "--out", str(tmp_path / "c"), *sets(wide)]) == 0
    with np.load(tmp_path / "f" / "weights.npz") as f, np.load(tmp_path / "c" / "weights.npz") as c:
        for key in ("h", "out"):
            assert np.abs(c[key] - f[key]).max() / np.abs(f[key]).max() < 1e-4
        assert np.abs(f["h"][:, 24:]).max() > 0  # W_rec is there and compared


def test_the_cost_model_routes_a_split_recurrent_layers_spikes_to_its_other_core(tmp_path):
    """24 recurrent neurons on two cores of 12: each core reads the rows of both cores' spikes
    of the last step, and receives the other core's spikes as packets; its recurrent axons
    hold traces."""
    from chipsim.chip import counters as ev
    from chipsim.simulation import Simulation
    config = delayed_xor_config()
    config["chip"] = {"core": {"neurons": 12}}
    sim = Simulation(config)
    sim.train(1, show_progress=False)
    evaluation = sim.evaluate(("spikes",))
    costs = sim.costs()
    layers = costs["placement"]["layers"]
    assert layers == {"h": [0, 1], "out": [2]}
    events = costs["inference"]["events_per_core"]
    spikes = evaluation.recordings["h.spikes"]
    counts = sim.chip.inference_counts
    x = sim.data.x_test
    for core, (mine, other) in enumerate(((slice(0, 12), slice(12, 24)),
                                          (slice(12, 24), slice(0, 12)))):
        assert events[str(core)]["synapse_rows_read"] == (
            np.count_nonzero(x) + counts[0, ev.RECURRENT_ROWS_READ])
        assert events[str(core)]["spike_packets"] == spikes[:, :, other].sum()
    assert events["2"]["spike_packets"] == spikes.sum()  # the read-out gets every spike
    memory = {row["core"]: row for row in costs["memory"]["per_core"]}
    trace_bits = sim.config.chip.bits.trace
    assert memory[0]["trace_registers"] == 24 * trace_bits  # its recurrent axons only
    assert memory[0]["axons"] == 24 + 24


def test_a_seeded_recurrent_layer_draws_w_and_w_rec_by_their_own_fan_ins_and_keeps_its_bias():
    """As two linear layers (snnTorch's RLeaky): |W| <= sqrt(3 / inputs), |W_rec| <=
    sqrt(3 / units), each reaching near its bound; network.bias gives it a bias like any layer."""
    from chipsim.mapping.network import build_network

    layers = [Dense("h", 4, 100, recurrent=True), Dense("out", 100, 2, spiking=False)]
    net = build_network(4, layers, Neuron(), True, seed=3)
    w = net.weights["h"]
    assert w.shape == (100, 104)
    for part, fan in ((w[:, :4], 4), (w[:, 4:], 100)):
        assert 0.95 * np.sqrt(3 / fan) < np.abs(part).max() <= np.sqrt(3 / fan)
    assert set(net.biases) == {"h", "out"} and not net.biases["h"].any()
