"""Importing torch networks: snnTorch, SpikingJelly, the OTTT authors' VGG, state_dict files.

Each importer is checked against the library it imports from, run in float64: the spikes of
every layer at every step must be identical, the membranes equal to rounding. Conv networks
are not run by chipsim's float64 reference yet, so the VGG is checked against a small numpy
simulation of the imported Network written here (conv as cross-correlation, average pools).
Tests skip with a reason where torch, snnTorch or SpikingJelly is not installed.
"""
from __future__ import annotations

import math
import sys
from collections import OrderedDict

import numpy as np
import pytest
import yaml

from chipsim.errors import DataError
from chipsim.float64 import Params, initial_state, step

T_STEPS = 25
BATCH = 8


def _torch():
    return pytest.importorskip("torch", reason="torch is not installed (pip install torch)")


def _run_chipsim(network, x):
    """float64 reference on x (B, T, in): per step, per layer (u, s) and the post-reset v."""
    params = Params.of(network)
    state = initial_state(network, x.shape[0])
    steps = []
    for t in range(x.shape[1]):
        state, rec = step(network, params, state, x[:, t])
        steps.append((rec.u, rec.spikes, state.v))
    return steps


def _hooks(modules):
    """Record the first output of each module at every call."""
    seen = {id(m): [] for m in modules}

    def hook(module, args, out):
        out = out[0] if isinstance(out, tuple) else out
        seen[id(module)].append(out.detach().numpy().copy())

    handles = [m.register_forward_hook(hook) for m in modules]
    return seen, handles


def _random_linear(layer, rng, scale):
    torch = _torch()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(rng.normal(0, scale, tuple(layer.weight.shape))))
        if layer.bias is not None:
            layer.bias.copy_(torch.from_numpy(rng.normal(0, 0.1, tuple(layer.bias.shape))))


# --- (a) snnTorch Leaky -------------------------------------------------------------------

@pytest.mark.parametrize("reset, readout", [("subtract", False), ("zero", True),
                                            ("subtract", True)])
def test_snntorch_leaky_spikes_identical(reset, readout):
    torch = _torch()
    snn = pytest.importorskip("snntorch", reason="snnTorch is not installed (pip install snntorch)")
    from chipsim.mapping.from_torch import from_torch

    rng = np.random.default_rng(1)
    n_in, n_hid, n_out = 20, 30, 10
    fc1, fc2 = torch.nn.Linear(n_in, n_hid), torch.nn.Linear(n_hid, n_out)
    _random_linear(fc1, rng, 0.6)
    _random_linear(fc2, rng, 0.5)
    lif1 = snn.Leaky(beta=0.9, threshold=0.8, init_hidden=True, reset_mechanism=reset)
    mods = [fc1, lif1, fc2]
    if not readout:
        mods.append(snn.Leaky(beta=0.7, init_hidden=True, output=True, reset_mechanism=reset))
    net = torch.nn.Sequential(*mods).double()

    network = from_torch(net, n_in)
    assert [layer.spiking for layer in network.layers] == [True, not readout]
    assert network.neuron_of(network.layers[0]).leak == float(lif1.beta)   # exact lam = beta
    assert network.neuron_of(network.layers[0]).firing == ">"

    x = rng.normal(0.3, 1.0, (BATCH, T_STEPS, n_in))
    neurons = [m for m in net if isinstance(m, snn.Leaky)]
    seen, handles = _hooks(neurons)
    mems = []
    with torch.no_grad():
        for t in range(T_STEPS):
            out = torch.from_numpy(x[:, t])
            for m in net:   # snnTorch's spike function returns float32 0/1: cast (exact)
                out = m(out)
                out = (out[0] if isinstance(out, tuple) else out).double()
            mems.append([n.mem.numpy().copy() for n in neurons] if not readout
                        else [neurons[0].mem.numpy().copy(), out.numpy().copy()])
    for h in handles:
        h.remove()
    ours = _run_chipsim(network, x)
    total = 0
    for t, (us, spikes, _) in enumerate(ours):
        for k, n in enumerate(neurons):
            np.testing.assert_array_equal(spikes[k], seen[id(n)][t], err_msg=f"layer {k} t {t}")
            total += spikes[k].sum()
        for k, mem in enumerate(mems[t]):   # snnTorch's mem is u (reset joins the next step)
            np.testing.assert_allclose(us[k], mem, rtol=0, atol=1e-12)
    n_spiking = sum(n.mem.numel() for n in neurons)
    assert 0.05 * T_STEPS * n_spiking < total < 0.95 * T_STEPS * n_spiking   # spikes happen


SJ_SIZES = (16, 24, 12, 5)


def _linear_chain(torch, rng, first, second):
    """Linear -> ``first`` -> Linear -> ``second`` -> Linear (read-out) over SJ_SIZES, random
    weights and biases, float64; returns (net, the three Linear layers)."""
    fcs = [torch.nn.Linear(a, b) for a, b in zip(SJ_SIZES, SJ_SIZES[1:])]
    for fc, s in zip(fcs, (1.0, 0.6, 0.5)):
        _random_linear(fc, rng, s)
    return torch.nn.Sequential(fcs[0], first, fcs[1], second, fcs[2]).double(), fcs


# --- (b) SpikingJelly LIFNode / IFNode ---------------------------------------------------

@pytest.mark.parametrize("decay_input, v_reset", [(True, None), (False, None), (True, 0.0),
                                                  (False, 0.0)])
def test_spikingjelly_lif_if_spikes_identical(decay_input, v_reset):
    torch = _torch()
    sj = pytest.importorskip("spikingjelly.activation_based.neuron",
                             reason="SpikingJelly is not installed (pip install spikingjelly)")
    from spikingjelly.activation_based import functional
    from chipsim.mapping.from_torch import from_torch

    rng = np.random.default_rng(2)
    sizes = SJ_SIZES
    lif = sj.LIFNode(tau=3.0, decay_input=decay_input, v_threshold=0.9, v_reset=v_reset,
                     step_mode="s")
    if_ = sj.IFNode(v_threshold=1.1, v_reset=v_reset, step_mode="s")
    net, fcs = _linear_chain(torch, rng, lif, if_)

    network = from_torch(net, sizes[0])
    n0, n1 = (network.neuron_of(layer) for layer in network.layers[:2])
    assert (n0.tau, n0.firing, n0.reset_at) == (3.0, ">=", "same_step")
    assert n1.tau == math.inf and n1.leak == 1.0
    assert n0.reset == ("subtract" if v_reset is None else "zero")
    assert not network.layers[2].spiking
    w0 = fcs[0].weight.detach().numpy()
    np.testing.assert_array_equal(network.weights["0"], w0 / 3.0 if decay_input else w0)

    x = rng.normal(0.5, 1.0, (BATCH, T_STEPS, sizes[0]))
    functional.reset_net(net)
    seen, handles = _hooks([lif, if_])
    vs, outs = [], []
    with torch.no_grad():
        for t in range(T_STEPS):
            outs.append(net(torch.from_numpy(x[:, t])).numpy().copy())
            vs.append([lif.v.numpy().copy(), if_.v.numpy().copy()])
    for h in handles:
        h.remove()
    total = 0
    for t, (us, spikes, v_after) in enumerate(_run_chipsim(network, x)):
        for k, m in enumerate((lif, if_)):
            np.testing.assert_array_equal(spikes[k], seen[id(m)][t], err_msg=f"layer {k} t {t}")
            np.testing.assert_allclose(v_after[k], vs[t][k], rtol=0, atol=1e-12)
            total += spikes[k].sum()
        np.testing.assert_allclose(us[2], outs[t], rtol=0, atol=1e-12)
    assert 0.05 * T_STEPS * BATCH * 36 < total < 0.95 * T_STEPS * BATCH * 36


# --- (c) the OTTT authors' VGG-11 -------------------------------------------------------

def _conv(x, w, b, stride, padding):
    """Cross-correlation as torch's conv2d: x (B, C, H, W), w (O, C, kh, kw)."""
    (ph, pw), (sh, sw) = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::sh, ::sw]
    out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    return out if b is None else out + b[None, :, None, None]


def _avg_pool(x, kernel, stride):
    win = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(2, 3))
    return win[:, :, ::stride[0], ::stride[1]].mean(axis=(4, 5))


def _simulate_numpy(network, x, steps):
    """The imported Network in float64 numpy (chipsim's neuron equations), on a constant
    input x (B, C, H, W) for ``steps`` steps: per step, per synaptic layer (u, s)."""
    v = {}
    record = []
    for _ in range(steps):
        a, rec = x, []
        for layer in network.layers:
            if layer.kind == "pool2d":
                a = _avg_pool(a, layer.kernel, layer.stride)
                continue
            if layer.kind == "flatten":
                a = a.reshape(a.shape[0], -1)
                continue
            w, b = network.weights[layer.name], network.biases.get(layer.name)
            if layer.kind == "conv2d":
                cur = _conv(a, w, b, layer.stride, layer.padding)
            else:
                cur = a @ w.T + (0.0 if b is None else b)
            if not layer.spiking:
                rec.append((cur, None))
                continue
            nrn = network.neuron_of(layer)
            u = nrn.leak * v.get(layer.name, 0.0) + cur
            s = (u >= nrn.threshold).astype(np.float64)
            v[layer.name] = u - nrn.threshold * s
            rec.append((u, s))
            a = s
        record.append(rec)
    return record


VGG11_CONVS = [(64, 32), (128, 32), (256, 16), (256, 16), (512, 8), (512, 8), (512, 4), (512, 4)]


def test_ottt_vgg11_imports_with_expected_shapes_and_standardized_weights():
    torch = _torch()
    from chipsim.mapping.from_torch import from_torch
    from chipsim.mapping.ottt_vgg import SPIKE_SCALE, ottt_vgg

    net = ottt_vgg("VGG11", in_channels=3, num_classes=10, input_hw=32, seed=0)
    assert from_torch(net, (3, 32, 32)).biases == {}   # initial biases are 0: no biases
    with torch.no_grad():   # gains away from 1 and biases away from 0, to check the folding
        for m in net.modules():
            if hasattr(m, "gain"):
                m.gain.uniform_(0.5, 1.5)
            if isinstance(m, torch.nn.Conv2d):
                m.bias.uniform_(-0.1, 0.1)
    network = from_torch(net, (3, 32, 32))
    convs = [layer for layer in network.layers if layer.kind == "conv2d"]
    pools = [layer for layer in network.layers if layer.kind == "pool2d"]
    assert [(c.out_channels, c.out_shape[1]) for c in convs] == VGG11_CONVS
    assert all(c.kernel == (3, 3) and c.padding == (1, 1) and c.spiking for c in convs)
    assert [p.kernel for p in pools] == [(2, 2), (2, 2), (2, 2), (4, 4)]   # last: global
    assert pools[-1].out_shape == (512, 1, 1)
    assert [layer.kind for layer in network.layers[-3:]] == ["pool2d", "flatten", "dense"]
    out = network.layers[-1]
    assert (out.n_in, out.n_out, out.spiking) == (512, 10, False)
    nrn = network.neuron
    assert (nrn.tau, nrn.threshold, nrn.reset, nrn.firing, nrn.reset_at) == (
        2.0, 1.0, "subtract", ">=", "same_step")
    assert all(c.neuron is None for c in convs)   # all use the network's neuron

    torch_convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    for i, (layer, m) in enumerate(zip(convs, torch_convs)):
        w = m.weight.detach().double().numpy()
        gain = m.gain.detach().double().numpy()
        fan_in = w[0].size
        mean = w.mean(axis=(1, 2, 3), keepdims=True)
        var = w.var(axis=(1, 2, 3), ddof=1, keepdims=True)
        expect = gain * (w - mean) / np.sqrt(var * fan_in + 1e-4)
        fold = 1.0 if i == 0 else SPIKE_SCALE   # the x2.74 after the previous neuron
        np.testing.assert_allclose(network.weights[layer.name], fold * expect, rtol=1e-12, atol=0)
        per_channel = network.weights[layer.name].reshape(len(w), -1)
        assert np.abs(per_channel.mean(axis=1)).max() < 1e-15   # zero mean per output channel
        np.testing.assert_array_equal(network.biases[layer.name], m.bias.detach().numpy())
    np.testing.assert_allclose(network.weights["classifier"],
                               SPIKE_SCALE * net.classifier.weight.detach().double().numpy(),
                               rtol=1e-15)


def test_ottt_vgg_forward_matches_numpy_simulation_of_the_import():
    """Small input (8x8): every layer's spikes identical to the torch module's over 6 steps,
    every membrane and the read-out equal to rounding; this checks the standardized weights,
    the folded x2.74, biases, pools, the global pool and the flatten together."""
    torch = _torch()
    from chipsim.mapping.from_torch import from_torch
    from chipsim.mapping.ottt_vgg import ottt_vgg, reset_states

    net = ottt_vgg("VGG11", input_hw=8, seed=3).double()
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for m in net.modules():
            if hasattr(m, "gain"):
                m.gain.copy_(torch.rand(m.gain.shape, generator=gen, dtype=torch.float64) + 0.5)
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen, dtype=torch.float64))
    network = from_torch(net, (3, 8, 8))
    x = np.random.default_rng(5).normal(0.0, 1.5, (2, 3, 8, 8))
    steps = 6

    neurons = [m for m in net.modules() if type(m).__name__ == "OnlineLIFNode"]
    seen, handles = _hooks(neurons)
    reset_states(net)
    membranes, outs = [], []
    with torch.no_grad():
        for _ in range(steps):
            outs.append(net(torch.from_numpy(x)).numpy().copy())
            membranes.append([n.h.numpy().copy() for n in neurons])
    for h in handles:
        h.remove()
    ours = _simulate_numpy(network, x, steps)
    counted, fired = 0, np.zeros(len(neurons))
    for t in range(steps):
        for k in range(len(neurons)):
            u, s = ours[t][k]
            np.testing.assert_array_equal(s, seen[id(neurons[k])][t], err_msg=f"layer {k} t {t}")
            np.testing.assert_allclose(u, membranes[t][k], rtol=1e-12, atol=1e-12)
            counted += s.size
            fired[k] += s.mean() / steps
        np.testing.assert_allclose(ours[t][-1][0], outs[t], rtol=1e-12, atol=1e-12)
    assert np.all(fired > 0.001) and np.all(fired < 0.5), fired   # every layer spikes, sparsely
    # neurons per sample at 8x8: 64*64 + 128*64 + 2*256*16 + 2*512*4 + 2*512*1 = 25,600
    assert counted == steps * 2 * 25_600


def test_spikingjelly_weight_standardized_layers_match_their_get_weight():
    """SpikingJelly ships the OTTT authors' standardization (WSConv2d, WSLinear): an
    independent implementation of the formula chipsim folds."""
    torch = _torch()
    layer = pytest.importorskip("spikingjelly.activation_based.layer",
                                reason="SpikingJelly is not installed (pip install spikingjelly)")
    from spikingjelly.activation_based import neuron
    from chipsim.mapping.from_torch import from_torch

    torch.manual_seed(0)
    conv, fc = layer.WSConv2d(2, 5, 3, padding=1), layer.WSLinear(5 * 4 * 4, 3)
    with torch.no_grad():
        conv.gain.uniform_(0.5, 2.0)
        fc.gain.uniform_(0.5, 2.0)
    net = torch.nn.Sequential(conv, neuron.IFNode(v_reset=None), layer.AvgPool2d(2),
                              layer.Flatten(), fc).double()
    network = from_torch(net, (2, 8, 8))
    assert [x.kind for x in network.layers] == ["conv2d", "pool2d", "flatten", "dense"]
    with torch.no_grad():
        np.testing.assert_allclose(network.weights["0"], conv.get_weight().numpy(), rtol=1e-13)
        np.testing.assert_allclose(network.weights["4"], fc.get_weight().numpy(), rtol=1e-13)


def test_from_torch_reads_a_custom_module_whose_children_are_in_forward_order():
    torch = _torch()
    from chipsim.mapping.from_torch import from_torch
    from chipsim.mapping.ottt_vgg import modules

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(6, 5)
            self.lif1 = modules().OnlineLIFNode(tau=4.0, v_threshold=0.5, decay_input=True)
            self.drop = torch.nn.Dropout(0.2)
            self.block = torch.nn.Sequential(torch.nn.Linear(5, 4), modules().OnlineLIFNode(),
                                             modules().Scale(3.0))
            self.out = torch.nn.Linear(4, 2, bias=False)

        def forward(self, x):
            return self.out(self.block(self.drop(self.lif1(self.fc1(x)))))

    net = Net()
    network = from_torch(net, (6,))
    assert network.names == ["fc1", "block.0", "out"]
    assert [x.spiking for x in network.layers] == [True, True, False]
    n0, n1 = (network.neuron_of(x) for x in network.layers[:2])
    assert (n0.tau, n0.threshold, n1.tau, n1.threshold) == (4.0, 0.5, 2.0, 1.0)
    np.testing.assert_array_equal(network.weights["fc1"], net.fc1.weight.detach().numpy() / 4.0)
    np.testing.assert_array_equal(network.biases["fc1"], net.fc1.bias.detach().numpy() / 4.0)
    np.testing.assert_array_equal(network.weights["out"],
                                  3.0 * net.out.weight.detach().double().numpy())
    assert "out" not in network.biases


def test_ottt_vgg_without_torch_names_the_install(monkeypatch):
    from chipsim.mapping import ottt_vgg

    ottt_vgg.modules.cache_clear()
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(DataError, match=r"pip install 'chipsim\[torch\]'"):
        ottt_vgg.ottt_vgg()
    ottt_vgg.modules.cache_clear()


# --- (d) state_dict + YAML --------------------------------------------------------------

ARCH = {"input": [4], "neuron": {"tau": 2.0, "threshold": 1.0},
        "layers": [{"name": "fc1", "type": "dense", "units": 6},
                   {"name": "out", "type": "dense", "units": 3, "neuron": "readout"}]}


def _dense_module():
    torch = _torch()
    torch.manual_seed(0)
    return torch.nn.Sequential(OrderedDict(fc1=torch.nn.Linear(4, 6), out=torch.nn.Linear(6, 3)))


def _save(tmp_path, state, arch=ARCH, name="net.pt"):
    torch = _torch()
    path = tmp_path / name
    torch.save(state, path)
    (tmp_path / name).with_suffix(".yaml").write_text(yaml.safe_dump(arch))
    return path


def test_read_torch_file_state_dict_and_yaml(tmp_path):
    from chipsim.mapping.from_torch import read_torch_file
    from chipsim.mapping.load import load_model

    module = _dense_module()
    path = _save(tmp_path, module.state_dict())
    for network in (read_torch_file(path), load_model(path)):
        assert [(layer.name, layer.n_in, layer.n_out, layer.spiking)
                for layer in network.layers] == [("fc1", 4, 6, True), ("out", 6, 3, False)]
        for name in ("fc1", "out"):
            m = getattr(module, name)
            np.testing.assert_array_equal(network.weights[name], m.weight.detach().numpy())
            np.testing.assert_array_equal(network.biases[name], m.bias.detach().numpy())
            assert network.weights[name].dtype == np.float64


def test_read_torch_file_drops_zero_biases(tmp_path):
    torch = _torch()
    from chipsim.mapping.from_torch import read_torch_file

    state = _dense_module().state_dict()
    state["out.bias"] = torch.zeros(3)
    network = read_torch_file(_save(tmp_path, state))
    assert sorted(network.biases) == ["fc1"]


def test_read_torch_file_conv_and_nested_checkpoint(tmp_path):
    torch = _torch()
    from chipsim.mapping.from_torch import from_torch, read_torch_file

    from chipsim.mapping.ottt_vgg import modules

    module = torch.nn.Sequential(OrderedDict(
        conv=torch.nn.Conv2d(1, 4, 3, padding=1), lif=modules().OnlineLIFNode(),
        pool=torch.nn.AvgPool2d(2), flat=torch.nn.Flatten(), fc=torch.nn.Linear(64, 3)))
    arch = {"input": [1, 8, 8], "layers": [
        {"name": "conv", "type": "conv2d", "channels": 4, "kernel": 3, "padding": 1},
        {"name": "pool", "type": "avgpool2d", "kernel": 2}, {"name": "flat", "type": "flatten"},
        {"name": "fc", "type": "dense", "units": 3, "neuron": "readout"}]}
    # a training checkpoint dict with the state_dict inside (as the OTTT authors save)
    path = _save(tmp_path, {"net": module.state_dict(), "epoch": 3}, arch, "ckpt.pth")
    network = read_torch_file(path)
    direct = from_torch(module, (1, 8, 8))
    assert [layer.kind for layer in network.layers] == [layer.kind for layer in direct.layers]
    assert network.layers[0].out_shape == direct.layers[0].out_shape == (4, 8, 8)
    np.testing.assert_array_equal(network.weights["conv"], direct.weights["conv"])
    np.testing.assert_array_equal(network.biases["conv"], direct.biases["conv"])


class _Marker:
    """Unpickling this would create a file: proof that nothing was unpickled."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_read_torch_file_refuses_pickled_module(tmp_path):
    from chipsim.mapping.from_torch import read_torch_file

    path = _save(tmp_path, _dense_module())      # torch.save of a whole module
    with pytest.raises(DataError, match=r"only pickle can rebuild \(first: torch\.nn\.modules"
                       r"\.container\.Sequential\).*never unpickles.*state_dict\(\)"):
        read_torch_file(path)
    marker = tmp_path / "was_unpickled"
    path = _save(tmp_path, {"fc1.weight": _Marker(marker)}, name="evil.pt")
    with pytest.raises(DataError, match=r"\(first: .*open\).*never unpickles"):
        read_torch_file(path)
    assert not marker.exists()


def test_read_torch_file_missing_key(tmp_path):
    from chipsim.mapping.from_torch import read_torch_file

    state = _dense_module().state_dict()
    del state["out.weight"]
    with pytest.raises(DataError, match=r"no weights for layer 'out'.*'out\.weight'"):
        read_torch_file(_save(tmp_path, state))


@pytest.mark.parametrize("key, shape, match", [
    ("fc1.weight", (5, 4), r"weights of 'fc1' have shape \(5, 4\).*\(6, 4\)"),
    ("fc1.bias", (7,), r"bias of 'fc1' has shape \(7,\).*\(6,\)"),
    ("fc1.gain", (6, 1), r"not used by the architecture: fc1\.gain"),  # a standardized layer's
])
def test_read_torch_file_refuses_a_wrong_or_extra_tensor(tmp_path, key, shape, match):
    torch = _torch()
    from chipsim.mapping.from_torch import read_torch_file

    state = _dense_module().state_dict()
    state[key] = torch.zeros(*shape)
    with pytest.raises(DataError, match=match):
        read_torch_file(_save(tmp_path, state))


def test_read_torch_file_garbage_and_missing_yaml(tmp_path):
    _torch()
    from chipsim.mapping.from_torch import read_torch_file

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file at all")
    bad.with_suffix(".yaml").write_text(yaml.safe_dump(ARCH))
    with pytest.raises(DataError, match=r"bad\.pt' is not a readable torch.save file"):
        read_torch_file(bad)
    lone = tmp_path / "lone.pt"
    lone.write_bytes(b"x")
    with pytest.raises(DataError, match=r"architecture .*lone\.yaml' not found"):
        read_torch_file(lone)


def test_read_torch_file_without_torch_names_the_install(tmp_path, monkeypatch):
    from chipsim.mapping.from_torch import read_torch_file

    monkeypatch.setitem(sys.modules, "torch", None)   # import torch now raises ImportError
    with pytest.raises(DataError, match=r"pip install 'chipsim\[torch\]'"):
        read_torch_file(tmp_path / "net.pt")


# --- from_torch refusals, one per message ---------------------------------------------

def _refusals():
    torch = _torch()
    from chipsim.mapping.ottt_vgg import modules

    nn, lif = torch.nn, modules().OnlineLIFNode
    at = "from_torch: module "
    cases = [
        (lambda: nn.Sequential(nn.Linear(4, 4), lif(), nn.ReLU(), nn.Linear(4, 2)), 4,
         at + r"'2' \(ReLU\) is not supported\. Supported: nn\.Linear"),
        (lambda: nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)), 4,
         at + r"'1' \(Linear\) follows synaptic layer '0' that has no neuron module.*read-out"),
        (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, groups=2), lif()), (2, 8, 8),
         at + r"'0' \(Conv2d\): Conv2d with groups=2"),
        (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)), (1, 8, 8),
         at + r"'0' \(Conv2d\): Conv2d with groups=1, dilation=\(2, 2\)"),
        (lambda: nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 2)), (1, 8, 8),
         at + r"'0' \(MaxPool2d\) is not linear"),
        (lambda: nn.Sequential(nn.Linear(4, 3)), 5,
         at + r"'0' \(Linear\): Linear has in_features=4 but its input has 5 values"),
        (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), lif(), nn.Linear(71, 2)), (1, 8, 8),
         at + r"'2' \(Linear\): Linear has in_features=71 but its input is \(2, 6, 6\)"),
        (lambda: nn.Sequential(nn.Linear(4, 2), nn.AvgPool2d(2)), 4,
         at + r"'1' \(AvgPool2d\) follows synaptic layer '0'"),
        (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), lif(), nn.BatchNorm2d(2)), (1, 8, 8),
         at + r"'2' \(BatchNorm2d\) is not mapped; fold it"),
        (lambda: nn.Sequential(nn.Conv2d(1, 2, 3)), (8, 8), r"input_shape must be"),
        (lambda: nn.Sequential(nn.Dropout()), 4, r"no Linear or Conv2d"),
        (lambda: nn.Sequential(lif(), nn.Linear(4, 2)), 4,
         at + r"'0' \(OnlineLIFNode\): a neuron module does not follow a synaptic layer"),
        (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), lif(), nn.AvgPool2d(2)), (1, 8, 8),
         r"the module ends with '2' \(pool2d\); chipsim's output is the last synaptic layer"),
    ]
    shared = nn.Linear(4, 4)
    cases.append((lambda: nn.Sequential(shared, lif(), shared), 4,
                  at + r"'2' is the same object as '0'"))

    class Doubled(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    cases.append((lambda: nn.Sequential(Doubled(4, 2)), 4,
                  at + r"'0' \(Doubled\): Doubled subclasses Linear but overrides forward"))

    def sigmoid_neuron():
        n = lif()
        n.surrogate_function = torch.sigmoid   # a non-step "spike" function
        return n

    cases.append((lambda: nn.Sequential(nn.Linear(4, 2), sigmoid_neuron()), 4,
                  at + r"'1' \(OnlineLIFNode\): its spike function is not a unit step"))
    cases.append((lambda: nn.Sequential(nn.Conv2d(1, 2, 3), lif(), nn.AdaptiveAvgPool2d(4),
                                        nn.Flatten(), nn.Linear(32, 2)), (1, 8, 8),
                  at + r"'2' \(AdaptiveAvgPool2d\): AdaptiveAvgPool2d\(4\) on a 6x6 map"))
    cases.append((lambda: nn.Sequential(nn.Linear(4, 4), lif(), modules().Scale(2.0)), 4,
                  r"Scale\(2\.0\) after the last synaptic layer"))
    return cases


N_REFUSALS = 18


@pytest.mark.parametrize("case", range(N_REFUSALS))
def test_from_torch_refuses_with_a_clear_message(case):
    from chipsim.mapping.from_torch import from_torch

    cases = _refusals()
    assert len(cases) == N_REFUSALS
    build, shape, match = cases[case]
    with pytest.raises(DataError, match=match):
        from_torch(build(), shape)


def test_from_torch_refuses_unsupported_neuron_options():
    torch = _torch()
    snn = pytest.importorskip("snntorch", reason="snnTorch is not installed (pip install snntorch)")
    from chipsim.mapping.from_torch import from_torch

    nn = torch.nn
    for neuron, match in [
        (snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="none"),
         r"module '1' \(Leaky\): snnTorch Leaky reset_mechanism 'none'"),
        (snn.Leaky(beta=0.9, init_hidden=True, reset_delay=False), r"reset_delay=False"),
        (snn.Leaky(beta=torch.tensor([0.9, 0.8, 0.9]), init_hidden=True),
         r"module '1' \(Leaky\): beta: chipsim has one value per layer"),
        (snn.Leaky(beta=0.9, init_hidden=True, graded_spikes_factor=2.0),
         r"graded_spikes_factor must be 1"),
        (snn.Synaptic(alpha=0.9, beta=0.8, init_hidden=True, reset_mechanism="zero"),
         r"Synaptic with reset_mechanism 'zero' also zeroes its synaptic current"),
        (snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True), r"snnTorch Alpha is not supported"),
    ]:
        with pytest.raises(DataError, match=match):
            from_torch(nn.Sequential(nn.Linear(4, 3), neuron), 4)
    with pytest.raises(DataError, match=r"module '0' \(Leaky\): a neuron module does not follow"):
        from_torch(nn.Sequential(snn.Leaky(beta=0.5, init_hidden=True), nn.Linear(4, 2)), 4)


def test_from_torch_refuses_spikingjelly_reset_other_than_none_or_zero():
    torch = _torch()
    sj = pytest.importorskip("spikingjelly.activation_based.neuron",
                             reason="SpikingJelly is not installed (pip install spikingjelly)")
    from chipsim.mapping.from_torch import from_torch

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), sj.LIFNode(v_reset=-0.5))
    with pytest.raises(DataError, match=r"module '1' \(LIFNode\): v_reset -0.5 is not supported"):
        from_torch(net, 4)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), sj.ParametricLIFNode())
    with pytest.raises(DataError, match=r"SpikingJelly ParametricLIFNode is not supported"):
        from_torch(net, 4)


def test_spikingjelly_mixed_neurons_with_biases_run_on_the_chip():
    """A SpikingJelly LIFNode (decay_input, hard reset) and IFNode (soft reset) net with
    nn.Linear biases, refused by the chip before: with 16-bit weights and a 24-bit membrane
    the chip's spikes equal SpikingJelly's for almost every neuron and step."""
    torch = _torch()
    sj = pytest.importorskip("spikingjelly.activation_based.neuron",
                             reason="SpikingJelly is not installed (pip install spikingjelly)")
    import tempfile
    from pathlib import Path

    import yaml
    from spikingjelly.activation_based import functional

    from chipsim.cli import main
    from chipsim.mapping.architecture import architecture_of
    from chipsim.mapping.from_torch import from_torch

    rng = np.random.default_rng(5)
    sizes = SJ_SIZES
    lif = sj.LIFNode(tau=2.0, decay_input=True, v_threshold=0.5, v_reset=0.0, step_mode="s")
    if_ = sj.IFNode(v_threshold=1.0, v_reset=None, step_mode="s")
    net, _ = _linear_chain(torch, rng, lif, if_)
    network = from_torch(net, sizes[0])
    assert sorted(network.biases) == ["0", "2", "4"]

    x = rng.integers(0, 16, (64, T_STEPS, sizes[0])) / 16.0   # exact in the 8-bit payload
    functional.reset_net(net)
    seen, handles = _hooks([lif, if_])
    with torch.no_grad():
        for t in range(T_STEPS):
            net(torch.from_numpy(x[:, t]))
    for h in handles:
        h.remove()
    theirs = [np.stack(seen[id(m)], axis=1) for m in (lif, if_)]   # (N, T, units)

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        np.savez(folder / "net.npz", **network.weights,
                 **{f"{k}.bias": v for k, v in network.biases.items()})
        (folder / "net.yaml").write_text(yaml.safe_dump(architecture_of(network)))
        np.savez(folder / "d.npz", x=x, y=np.arange(64) % 5, x_test=x, y_test=np.arange(64) % 5)
        (folder / "run.yaml").write_text(yaml.safe_dump({
            "data": {"source": "npz", "path": "d.npz", "timesteps": T_STEPS},
            "network": {"model": "net.npz"}, "learning": {"rule": "none"},
            "chip": {"bits": {"weight": 16, "membrane": 24}, "weight_headroom": 1.0},
            "output": {"plots": False, "record": ["spikes"]}}))
        assert main(["run", str(folder / "run.yaml"), "--out", str(folder / "r")]) == 0
        with np.load(folder / "r" / "record.npz") as r:
            ours = [r["0.spikes"], r["2.spikes"]]
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert 0.05 < b.mean() < 0.95, f"layer {k} spike rate {b.mean()}"   # spikes happen
        assert np.mean(a == b) >= 0.99, f"layer {k}: {np.mean(a == b):.4f} of spikes equal"
