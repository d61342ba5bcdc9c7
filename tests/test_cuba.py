"""CUBA neurons (issue 17, part 2): a synaptic current with its own decay,
I[t] = lam_syn I[t-1] + W x[t] (+ b), and the membrane u[t] = lam v[t-1] + I[t]. In float64
against a plain loop, BPTT through the current against torch's autograd, snnTorch's Synaptic
(module, state_dict and its own NIR export as CubaLIF) spike for spike, the chip against
float64 and the NIR round trip; OTTT in float64 (exact against BPTT where it should be) and
its refusal on the chip."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from chipsim.cli import main
from chipsim.float64 import Params, infer
from chipsim.mapping.network import Dense, Network, Neuron
from chipsim.rules.bptt import BPTT
from chipsim.rules.loss import step_loss_grad
from test_float64 import run_records
from test_recurrent import snntorch_spikes, torch_spike

N_IN, HIDDEN, CLASSES, STEPS = 6, 9, 3, 12


def cuba_net(rng, recurrent=False, reset="subtract", reset_at="same_step"):
    neuron = Neuron(2.0, 1.0, reset, ">=", reset_at, tau_syn=4.0)  # lam 0.5, lam_syn 0.75
    layers = (Dense("h", N_IN, HIDDEN, recurrent=recurrent),
              Dense("out", HIDDEN, CLASSES, spiking=False))
    w = rng.normal(0.3, 0.5, (HIDDEN, N_IN + (HIDDEN if recurrent else 0)))
    return Network(N_IN, layers, neuron, {"h": w, "out": rng.normal(0, 0.6, (CLASSES, HIDDEN))},
                   {"h": rng.normal(0.0, 0.1, HIDDEN)})


@pytest.mark.parametrize("reset,reset_at", [("subtract", "same_step"), ("zero", "same_step"),
                                            ("subtract", "next_step")])
def test_the_cuba_forward_pass_is_the_neuron_written_as_a_loop(reset, reset_at):
    rng = np.random.default_rng(1)
    net = cuba_net(rng, reset=reset, reset_at=reset_at)
    x = (rng.random((2, STEPS, N_IN)) < 0.5).astype(float)
    _, rec = infer(net, Params.of(net), x, record=("spikes", "membrane"))
    w, b = net.weights["h"], net.biases["h"]
    for k in range(2):
        i_syn, v, s = np.zeros(HIDDEN), np.zeros(HIDDEN), np.zeros(HIDDEN)
        for t in range(STEPS):
            for n in range(HIDDEN):
                i_syn[n] = 0.75 * i_syn[n] + sum(w[n, j] * x[k, t, j] for j in range(N_IN)) + b[n]
            u = 0.5 * v + i_syn - (s if reset_at == "next_step" else 0.0)
            s = (u >= 1.0).astype(float)
            v = u if reset_at == "next_step" else (u - s if reset == "subtract" else u * (1 - s))
            assert np.allclose(rec["h.membrane"][k, t], u, rtol=0, atol=1e-12)
            assert np.array_equal(rec["h.spikes"][k, t], s)
    assert 0.05 < rec["h.spikes"].mean() < 0.95


def test_bptt_through_the_synaptic_current_is_torch_autograds_gradient():
    """A recurrent CUBA layer in torch (heaviside forward, chipsim's sigmoid surrogate, reset
    detached): torch.autograd's gradients of [W | W_rec], the bias and the read-out equal
    chipsim's BPTT."""
    torch = pytest.importorskip("torch", reason="needs torch (pip install 'chipsim[torch]')")
    Spike = torch_spike(torch)
    rng = np.random.default_rng(5)
    net = cuba_net(rng, recurrent=True)
    x = (rng.random((3, STEPS, N_IN)) < 0.5).astype(float)
    y = rng.integers(0, CLASSES, 3)
    params, recs = run_records(net, x)
    rule = BPTT(timesteps=STEPS, chain=net.chain, neurons=[net.neuron_of(l) for l in net.synaptic])
    rule.begin(y)
    for t, rec in enumerate(recs):
        rule.step(t, rec, params.weights)
    (g_w, g_b) = rule.end(params.weights)

    w_h = torch.tensor(net.weights["h"], requires_grad=True)
    b_h = torch.tensor(net.biases["h"], requires_grad=True)
    w_out = torch.tensor(net.weights["out"], requires_grad=True)
    xt = torch.tensor(x)
    i_syn, v, s = (torch.zeros(3, HIDDEN, dtype=torch.float64) for _ in range(3))
    outputs = []
    for t in range(STEPS):
        i_syn = 0.75 * i_syn + torch.cat([xt[:, t], s], dim=1) @ w_h.T + b_h
        u = 0.5 * v + i_syn
        s = Spike.apply(u - 1.0)
        v = u - s.detach()
        outputs.append(s @ w_out.T)
    deltas = [torch.tensor(step_loss_grad(o.detach().numpy(), y, 0.05, STEPS)) for o in outputs]
    torch.autograd.backward(outputs, deltas)
    assert np.allclose(g_w[0], w_h.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert np.allclose(g_b[0], b_h.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert np.allclose(g_w[1], w_out.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert np.abs(g_w[0]).max() > 1e-3


def synaptic_net(torch, snn, rng, hidden=HIDDEN, classes=4):
    """Linear -> Synaptic -> Linear -> Synaptic, dyadic weights and biases, alpha 0.5 and
    beta 0.5 (per-neuron tensors: what snnTorch's exporter needs)."""
    dyadic = lambda *shape: torch.tensor(rng.integers(-8, 13, shape) / 16.0)  # noqa: E731
    full = lambda n, v: torch.full((n,), v)  # noqa: E731
    net = torch.nn.Sequential(
        torch.nn.Linear(N_IN, hidden),
        snn.Synaptic(alpha=full(hidden, 0.5), beta=full(hidden, 0.5),
                     threshold=full(hidden, 1.0), init_hidden=True),
        torch.nn.Linear(hidden, classes),
        snn.Synaptic(alpha=full(classes, 0.5), beta=full(classes, 0.5),
                     threshold=full(classes, 1.0), init_hidden=True))
    with torch.no_grad():
        for m in (net[0], net[2]):
            m.weight.copy_(dyadic(*m.weight.shape))
            m.bias.copy_(dyadic(*m.bias.shape))
    return net


@pytest.mark.filterwarnings("ignore:nirtorch")
@pytest.mark.parametrize("path", ["nir", "module", "state_dict"])
def test_snntorch_synaptic_spikes_as_in_snntorch(tmp_path, path):
    """snnTorch's Synaptic (alpha 0.5: a synaptic current that decays by half each step)
    through snnTorch's own export_to_nir (CubaLIF nodes, tau_syn > dt, read with the snnTorch
    convention), the module itself (from_torch) or its torch.save state_dict: chipsim's
    float64 spikes equal snnTorch's in every layer at every step, and so do the chip's with
    wide formats."""
    torch = pytest.importorskip("torch", reason="needs torch (pip install 'chipsim[torch]')")
    snn = pytest.importorskip("snntorch", reason="needs snnTorch (pip install 'chipsim[torch]')")
    from chipsim.mapping.load import load_model

    rng = np.random.default_rng(3)
    net = synaptic_net(torch, snn, rng)
    if path == "nir":
        nir = pytest.importorskip("nir", reason="needs the 'nir' package")
        pytest.importorskip("nirtorch", reason="snnTorch's NIR exporter needs nirtorch")
        from snntorch.export_nir import export_to_nir

        graph = export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0])
        assert {type(n).__name__ for n in graph.nodes.values()} >= {"CubaLIF"}
        nir.write(tmp_path / "synaptic.nir", graph)
        network = load_model(tmp_path / "synaptic.nir", "snntorch")
    elif path == "module":
        from chipsim.mapping.from_torch import from_torch

        network = from_torch(net, N_IN)
    else:
        torch.save(net.state_dict(), tmp_path / "net.pt")
        (tmp_path / "net.yaml").write_text(yaml.safe_dump({
            "input": [N_IN], "layers": [{"name": "0", "type": "dense", "units": HIDDEN},
                                        {"name": "2", "type": "dense", "units": 4}]}))
        network = load_model(tmp_path / "net.pt")
    assert [network.neuron_of(l).syn_leak for l in network.synaptic] == [0.5, 0.5]
    x = (rng.random((20, STEPS, N_IN)) < 0.4).astype(np.float64)
    theirs = snntorch_spikes(torch, net, x)
    _, rec = infer(network, Params.of(network), x, record=("spikes",))
    names = [layer.name for layer in network.synaptic]
    for name, spikes in zip(names, theirs):
        assert np.array_equal(rec[f"{name}.spikes"], spikes), name
    assert 0.05 < theirs[0].mean() < 0.95 and theirs[1].sum() > 0  # the layers do spike
    if path == "module":  # and the chip, with formats wide enough to hold every value
        chip_spikes(tmp_path, network, x, theirs)


def chip_spikes(tmp_path, network, x, theirs):
    from chipsim.build import make_chip
    from chipsim.config import Config
    from chipsim.data import Dataset

    config = Config.model_validate({
        "data": {"source": "digits", "timesteps": STEPS}, "learning": {"rule": "none"},
        "network": {"layers": [{"name": "unused", "units": 4}]},
        "chip": {"bits": {"weight": 16, "membrane": 32, "input": 8}}})
    labels = np.zeros(len(x), int)
    data = Dataset("spikes", x, labels, x, labels, 4)
    chip = make_chip(config, network, data, None)
    _, rec = chip.infer(x, ("spikes",))
    for layer, spikes in zip(network.synaptic, theirs):
        assert np.array_equal(rec[f"{layer.name}.spikes"], spikes), layer.name


def test_a_cuba_network_writes_to_nir_and_reads_back_bit_for_bit(tmp_path):
    pytest.importorskip("nir", reason="needs the 'nir' package")
    from chipsim.mapping.load import load_model
    from chipsim.mapping.to_nir import write_nir

    net = cuba_net(np.random.default_rng(2))
    write_nir(net, tmp_path / "cuba.nir")
    back = load_model(tmp_path / "cuba.nir", "chipsim")
    assert back.neuron_of(back.synaptic[0]) == net.neuron_of(net.synaptic[0])
    for name in ("h", "out"):
        assert np.array_equal(back.weights[name], net.weights[name])


@pytest.mark.parametrize("seed", range(6))
def test_ottt_on_a_cuba_layer_is_exact_bptt_for_the_last_spiking_layer(seed):
    """With the reset detached and an input trace, OTTT's gradient of the CUBA layer's weights
    equals BPTT's: its presynaptic trace is the membrane's trace of the current's trace of the
    inputs, the eligibility that BPTT's dL/dI sums up. A recurrent layer's error is
    instantaneous in OTTT, so its W_rec starts at 0 here (no error flows through the
    recurrence), and the [W | W_rec] gradient must still be exact."""
    from chipsim.rules.ottt import OTTT

    rng = np.random.default_rng(seed)
    net = cuba_net(rng, recurrent=seed % 2 == 1)
    if seed % 2:
        net.weights["h"][:, N_IN:] = 0.0
    x = (rng.random((3, STEPS, N_IN)) < 0.5).astype(float)
    y = rng.integers(0, CLASSES, 3)
    params, recs = run_records(net, x)
    assert sum(float(r.spikes[0].sum()) for r in recs) > 0  # the layer fires
    grads = []
    for rule in (OTTT(variant="A", input_trace=True, timesteps=STEPS, chain=net.chain),
                 BPTT(timesteps=STEPS, neurons=[net.neuron] * 2, chain=net.chain)):
        rule.begin(y)
        for t, rec in enumerate(recs):
            rule.step(t, rec, params.weights)
        grads.append(rule.end(params.weights)[0][0])
    assert np.abs(grads[1]).max() > 1e-3
    assert np.allclose(grads[0], grads[1], rtol=1e-10, atol=1e-13)


def test_ottt_trains_a_cuba_network_in_float64_and_the_chip_refuses(tmp_path, capsys):
    config = {"seed": 0, "data": {"source": "digits", "timesteps": 4},
              "network": {"neuron": {"tau_syn": 2.0}, "input_trace": True,
                          "layers": [{"name": "h", "units": 32},
                                     {"name": "out", "units": 10, "neuron": "readout"}]},
              "learning": {"epochs": 1, "batch_size": 16, "optimizer": {"lr": 0.1}},
              "chip": {"arithmetic": "float64"}, "output": {"plots": False}}
    path = tmp_path / "cuba.yaml"
    path.write_text(yaml.safe_dump(config))
    for rule in ("ottt", "bptt"):
        assert main(["run", str(path), "--out", str(tmp_path / rule),
                     "--set", f"learning.rule={rule}"]) == 0
        report = yaml.safe_load((tmp_path / rule / "report.json").read_text())
        assert report["final"]["test_accuracy"] > 0.5, rule
    capsys.readouterr()
    assert main(["run", str(path), "--out", str(tmp_path / "chip_ottt"),
                 "--set", "chip.arithmetic=fixed"]) == 2
    err = capsys.readouterr().err
    assert "layer 'h' has a synaptic current (tau_syn 2)" in err and "Traceback" not in err
    assert "chip.arithmetic: float64" in err
    assert main(["run", str(path), "--out", str(tmp_path / "raw"),
                 "--set", "network.input_trace=false"]) == 2
    assert "set network.input_trace: true" in capsys.readouterr().err
    # inference on the chip (no learning rule) runs the same CUBA neurons, with the weights
    # OTTT learnt in float64
    assert main(["run", str(path), "--out", str(tmp_path / "chip"), "--set",
                 "learning.rule=none", "--set", "chip.arithmetic=fixed", "--set",
                 f"network.init.weights={tmp_path / 'ottt' / 'weights.npz'}"]) == 0


@pytest.mark.filterwarnings("ignore:nirtorch")
@pytest.mark.parametrize("path", ["nir", "module"])
def test_snntorch_rsynaptic_spikes_as_in_snntorch(tmp_path, path):
    """snnTorch's RSynaptic (a Synaptic with a recurrent nn.Linear) in Linear -> RSynaptic ->
    Linear -> Leaky, through its own export_to_nir or the module: a recurrent CUBA layer that
    spikes as in snnTorch."""
    torch = pytest.importorskip("torch", reason="needs torch (pip install 'chipsim[torch]')")
    snn = pytest.importorskip("snntorch", reason="needs snnTorch (pip install 'chipsim[torch]')")
    rng = np.random.default_rng(0)
    dyadic = lambda *shape: torch.tensor(rng.integers(-8, 13, shape) / 16.0)  # noqa: E731
    full = lambda n, v: torch.full((n,), v)  # noqa: E731
    net = torch.nn.Sequential(
        torch.nn.Linear(N_IN, HIDDEN),
        snn.RSynaptic(alpha=full(HIDDEN, 0.5), beta=full(HIDDEN, 0.5),
                      threshold=full(HIDDEN, 1.0), linear_features=HIDDEN, init_hidden=True),
        torch.nn.Linear(HIDDEN, 4),
        snn.Leaky(beta=full(4, 0.5), threshold=full(4, 1.0), init_hidden=True))
    with torch.no_grad():
        for m in (net[0], net[1].recurrent, net[2]):
            m.weight.copy_(dyadic(*m.weight.shape))
            m.bias.copy_(dyadic(*m.bias.shape))
    if path == "nir":
        nir = pytest.importorskip("nir", reason="needs the 'nir' package")
        pytest.importorskip("nirtorch", reason="snnTorch's NIR exporter needs nirtorch")
        from snntorch.export_nir import export_to_nir

        from chipsim.mapping.load import load_model

        nir.write(tmp_path / "rsyn.nir", export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0]))
        network = load_model(tmp_path / "rsyn.nir", "snntorch")
    else:
        from chipsim.mapping.from_torch import from_torch

        network = from_torch(net, N_IN)
    assert [layer.recurrent for layer in network.synaptic] == [True, False]
    assert network.neuron_of(network.synaptic[0]).syn_leak == 0.5
    x = (rng.random((20, 10, N_IN)) < 0.4).astype(np.float64)
    theirs = snntorch_spikes(torch, net, x)
    _, rec = infer(network, Params.of(network), x, record=("spikes",))
    for layer, spikes in zip(network.synaptic, theirs):
        assert np.array_equal(rec[f"{layer.name}.spikes"], spikes), layer.name
    assert 0.05 < theirs[0].mean() < 0.95 and theirs[1].sum() > 0
