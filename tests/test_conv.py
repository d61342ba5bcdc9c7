"""Convolutional layers in the float64 reference: the linear operators against naive loops and
finite differences, OTTT conv gradients against an independent implementation and against
BPTT where OTTT is exact, and a conv network learning through the CLI."""
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from chipsim import ops
from chipsim.cli import main
from chipsim.float64 import Params, initial_state, step
from chipsim.mapping.network import Conv2d, Dense, Flatten, Network, Neuron, Pool2d
from chipsim.rules.bptt import BPTT
from chipsim.rules.loss import step_loss_grad
from chipsim.rules.ottt import OTTT
from chipsim.rules.surrogate import sigmoid_surrogate

from conftest import write_yaml


def naive_conv(x, w, stride, pad):
    """Direct loops: x (C, H, W), w (O, C, kh, kw) -> (O, Ho, Wo)."""
    c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    ho = (h + 2 * pad[0] - kh) // stride[0] + 1
    wo = (wd + 2 * pad[1] - kw) // stride[1] + 1
    out = np.zeros((o, ho, wo))
    for k in range(o):
        for i in range(ho):
            for j in range(wo):
                out[k, i, j] = np.sum(xp[:, i * stride[0]:i * stride[0] + kh,
                                         j * stride[1]:j * stride[1] + kw] * w[k])
    return out


convs = st.builds(
    lambda c, h, w, o, kh, kw, sh, sw, ph, pw: Conv2d("c", (c, h, w), o, (kh, kw), (sh, sw),
                                                      (min(ph, kh - 1), min(pw, kw - 1))),
    st.integers(1, 3), st.integers(3, 7), st.integers(3, 7), st.integers(1, 4),
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2),
    st.integers(0, 1), st.integers(0, 1))


@settings(max_examples=40, deadline=None)
@given(convs, st.integers(0, 2**31))
def test_conv_forward_transpose_and_weight_grad(layer, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, layer.n_in))
    w = rng.normal(size=layer.weight_shape)
    y = ops.forward(layer, w, x)
    for b in range(2):
        ref = naive_conv(x[b].reshape(layer.in_shape), w, layer.stride, layer.padding)
        assert np.allclose(y[b], ref.ravel(), atol=1e-12)
    g = rng.normal(size=y.shape)
    assert np.isclose(np.sum(g * y), np.sum(ops.transpose(layer, w, g) * x), atol=1e-10)
    # the weight gradient of <g, conv(x; w)> is linear: compare with one-hot weights
    gw = ops.weight_grad(layer, g, x)
    k = tuple(rng.integers(0, s) for s in layer.weight_shape)
    e = np.zeros_like(w)
    e[k] = 1.0
    assert np.isclose(gw[k], np.sum(g * ops.forward(layer, e, x)), atol=1e-10)


@pytest.mark.parametrize("mode", ["avg", "sum"])
def test_pooling_forward_and_transpose(mode):
    rng = np.random.default_rng(1)
    pool = Pool2d("p", (2, 6, 4), (2, 2), (2, 2), mode)
    x = rng.normal(size=(3, pool.n_in))
    y = ops.forward(pool, None, x)
    maps = x.reshape(3, 2, 3, 2, 2, 2).sum(axis=(3, 5)) / (4 if mode == "avg" else 1)
    assert np.allclose(y, maps.reshape(3, -1))
    g = rng.normal(size=y.shape)
    assert np.isclose(np.sum(g * y), np.sum(ops.transpose(pool, None, g) * x))


def conv_net(rng, input_trace_net=False):
    conv = Conv2d("c1", (2, 6, 6), 3, (3, 3), (1, 1), (1, 1))
    pool = Pool2d("p1", conv.out_shape, (2, 2), (2, 2))
    flat = Flatten("f", pool.out_shape)
    out = Dense("out", flat.n_in, 4, spiking=False)
    weights = {"c1": rng.normal(0.4, 0.5, conv.weight_shape), "out": rng.normal(0, 0.5, (4, 27))}
    return Network(conv.n_in, (conv, pool, flat, out), Neuron(), weights, {})


def run(net, x):
    params, state, recs = Params.of(net), initial_state(net, x.shape[0]), []
    for t in range(x.shape[1]):
        state, rec = step(net, params, state, x[:, t])
        recs.append(rec)
    return params, recs


def test_ottt_conv_gradients_match_an_independent_loop_implementation():
    rng = np.random.default_rng(2)
    net = conv_net(rng)
    x = (rng.random((2, 4, 72)) < 0.5).astype(float)
    y = np.array([1, 3])
    params, recs = run(net, x)
    assert sum(r.spikes[0].sum() for r in recs) > 0
    rule = OTTT(timesteps=4, chain=net.chain)
    rule.begin(y)
    rec = recs[2]
    gw, _ = rule.step_gradients(rec, params.weights)
    # independent: read-out gradient from the pooled trace, error through the read-out
    # weights, un-pooled by hand, times the surrogate; conv weight gradient by loops
    delta_out = step_loss_grad(rec.u[1], y, 0.05, 4)
    assert np.allclose(gw[1], delta_out.T @ rec.traces[1])
    e_pooled = (delta_out @ params.weights[1]).reshape(2, 3, 3, 3)
    e = np.repeat(np.repeat(e_pooled, 2, axis=2), 2, axis=3) / 4.0
    delta = e.reshape(2, -1) * sigmoid_surrogate(rec.u[0] - 1.0, 4.0)
    ref = np.zeros_like(gw[0])
    xin = rec.inputs[0].reshape(2, 2, 6, 6)
    d = delta.reshape(2, 3, 6, 6)
    xp = np.pad(xin, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for b in range(2):
        for o in range(3):
            for i in range(6):
                for j in range(6):
                    ref[o] += d[b, o, i, j] * xp[b, :, i:i + 3, j:j + 3]
    assert np.allclose(gw[0], ref, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 6))
def test_ottt_with_input_trace_equals_bptt_for_a_conv_layer(seed, steps):
    """With one spiking (conv) layer, an input trace and the reset detached, OTTT's gradient of
    that layer's weights equals BPTT's at every step (the golden data's exact case)."""
    rng = np.random.default_rng(seed)
    net = conv_net(rng)
    x = (rng.random((2, steps, 72)) < 0.5).astype(float)
    y = rng.integers(0, 4, 2)
    params, recs = run(net, x)
    ottt = OTTT(variant="A", input_trace=True, timesteps=steps, chain=net.chain)
    bptt = BPTT(timesteps=steps, chain=net.chain)
    ottt.begin(y)
    bptt.begin(y)
    for t, rec in enumerate(recs):
        ottt.step(t, rec, params.weights)
        bptt.step(t, rec, params.weights)
    assert np.allclose(ottt.end(params.weights)[0][0], bptt.end(params.weights)[0][0],
                       rtol=1e-10, atol=1e-14)


def small_conv_config(path, chip):
    """Digits (1x8x8) -> conv 8x3x3 -> 2x2 average pool -> 10 read-out, 1 epoch."""
    return write_yaml(path, {
        "network": {"input_shape": [1, 8, 8], "layers": [
            {"name": "c1", "type": "conv2d", "channels": 8, "kernel": 3, "padding": 1},
            {"name": "p1", "type": "avgpool2d", "kernel": 2},
            {"name": "f", "type": "flatten"},
            {"name": "out", "type": "dense", "units": 10, "neuron": "readout"}]},
        "learning": {"optimizer": {"lr": 0.5}, "batch_size": 8, "epochs": 1},
        "chip": chip, "output": {"plots": False}})


def test_conv_network_learns_on_digits_in_float64(tmp_path):
    cfg = small_conv_config(tmp_path / "conv.yaml", {"arithmetic": "float64"})
    assert main(["run", str(cfg), "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["final"]["test_accuracy"] > 0.8
    with np.load(tmp_path / "r" / "weights.npz") as w:
        assert w["c1"].shape == (8, 1, 3, 3) and w["out"].shape == (10, 128)


@pytest.mark.parametrize("layer,needle", [
    ({"name": "c", "type": "conv2d", "channels": 4}, "network.layers.0.kernel: required"),
    ({"name": "c", "type": "dense", "units": 4, "kernel": 3}, "a dense layer takes no kernel"),
    ({"name": "p", "type": "avgpool2d", "kernel": 2, "neuron": "readout"}, "has no neurons"),
])
def test_conv_layer_config_errors(tmp_path, capsys, layer, needle):
    cfg = write_yaml(tmp_path / "n.yaml", {"network": {"input_shape": [1, 8, 8], "layers": [
        layer, {"name": "out", "type": "dense", "units": 10, "neuron": "readout"}]}})
    assert main(["run", str(cfg)]) == 2
    assert needle in capsys.readouterr().err


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from([(3, 2, 3, 3), (4, 7)]), st.floats(0.5, 3.0))
def test_weight_standardization_gradient_matches_finite_differences(seed, shape, scale):
    from chipsim.rules.weight_standardization import standardize, standardize_vjp

    rng = np.random.default_rng(seed)
    w, gain, g_eff = rng.normal(size=shape), rng.normal(1.0, 0.3, shape[0]), rng.normal(size=shape)
    loss = lambda w_, g_: np.sum(g_eff * standardize(w_, g_, 1e-4, scale))  # noqa: E731
    d_w, d_gain = standardize_vjp(w, gain, g_eff, 1e-4, scale)
    eps = 1e-6
    for _ in range(3):
        k = tuple(rng.integers(0, s) for s in shape)
        bumped = w.copy()
        bumped[k] += eps
        assert abs((loss(bumped, gain) - loss(w, gain)) / eps - d_w[k]) < 1e-4
    o = rng.integers(0, shape[0])
    g2 = gain.copy()
    g2[o] += eps
    assert abs((loss(w, g2) - loss(w, gain)) / eps - d_gain[o]) < 1e-4
    ws = standardize(w, gain, 1e-4).reshape(shape[0], -1)
    assert np.allclose(ws.mean(axis=1), 0.0)


def test_standardized_training_writes_standardized_weights(tmp_path):
    """The authors' way (default): conv standardized with a gain, read-out plain but fed the
    x2.74 spikes; readout: true standardizes it too. weights.npz holds the effective weights
    under the layer names, raw weights and gains beside them."""
    from chipsim.rules.weight_standardization import standardize

    cfg = write_yaml(tmp_path / "conv.yaml", {
        "network": {"input_shape": [1, 8, 8], "weight_standardization": {"enabled": True},
                    "layers": [{"name": "c1", "type": "conv2d", "channels": 4, "kernel": 3},
                               {"name": "f", "type": "flatten"},
                               {"name": "out", "type": "dense", "units": 10,
                                "neuron": "readout"}]},
        "learning": {"optimizer": {"lr": 0.5}, "batch_size": 16, "epochs": 1},
        "chip": {"arithmetic": "float64"}, "output": {"plots": False}})
    assert main(["run", str(cfg), "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["final"]["test_accuracy"] > 0.6
    with np.load(tmp_path / "r" / "weights.npz") as w:
        assert sorted(w.files) == ["c1", "c1.gain", "c1.raw", "out", "out.raw"]
        assert np.allclose(w["c1"].reshape(4, -1).mean(axis=1), 0.0, atol=1e-12)
        assert np.any(w["c1.gain"] != 1.0)      # the gains learned
        assert np.array_equal(w["c1"], standardize(w["c1.raw"], w["c1.gain"], 1e-4))
        assert np.abs(w["out"].mean(axis=1)).max() > 1e-3   # plain: not standardized
        assert np.allclose(w["out"], 2.74 * w["out.raw"], rtol=1e-15, atol=0)
    assert main(["run", str(cfg), "--out", str(tmp_path / "ro"),
                 "--set", "network.weight_standardization.readout=true"]) == 0
    with np.load(tmp_path / "ro" / "weights.npz") as w:
        assert np.allclose(w["out"].mean(axis=1), 0.0, atol=1e-12)
        assert np.allclose(w["out"], standardize(w["out.raw"], w["out.gain"], 1e-4, 2.74))
    assert main(["run", str(cfg), "--out", str(tmp_path / "chip"),
                 "--set", "chip.arithmetic=fixed"]) == 2


WIDE = ["chip.arithmetic=fixed", "chip.rounding=nearest",
        "chip.bits={weight: 32, membrane: 46, trace: 20, error: 20, surrogate: 16, "
        "accumulator: 46, input: 8, learning_rate: 16}"]


@pytest.mark.parametrize("variant,error", [("A", "backprop"), ("O", "backprop"),
                                           ("A", "broadcast"), ("O", "broadcast")])
def test_conv_chip_with_wide_formats_converges_to_float64(tmp_path, variant, error):
    """Two conv layers with average pooling between them, on chip with wide formats: after
    two epochs the weights are within 1e-4 (relative) of the float64 reference's."""
    rng = np.random.default_rng(0)
    x = (rng.random((6, 4, 72)) < 0.3).astype(float)
    y = np.arange(6) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x, y_test=y)
    cfg = write_yaml(tmp_path / "n.yaml", {
        "data": {"source": "npz", "path": str(tmp_path / "d.npz"), "timesteps": 4},
        "network": {"input_shape": [2, 6, 6], "init": {"gain": 2.0}, "layers": [
            {"name": "c1", "type": "conv2d", "channels": 3, "kernel": 3, "padding": 1},
            {"name": "p1", "type": "avgpool2d", "kernel": 2},
            {"name": "c2", "type": "conv2d", "channels": 4, "kernel": 2},
            {"name": "f", "type": "flatten"},
            {"name": "out", "type": "dense", "units": 3, "neuron": "readout"}]},
        "learning": {"variant": variant, "error": error, "batch_size": 3 if variant == "A" else 1,
                     "epochs": 2, "shuffle": False, "optimizer": {"lr": 0.5}},
        "output": {"plots": False}})
    sets = lambda items: [a for o in items for a in ("--set", o)]  # noqa: E731
    assert main(["run", str(cfg), "--out", str(tmp_path / "f"),
                 *sets(["chip.arithmetic=float64"])]) == 0
    assert main(["run", str(cfg), "--out", str(tmp_path / "c"), *sets(WIDE)]) == 0
    chip = json.loads((tmp_path / "c" / "report.json").read_text())["chip"]
    assert min(chip["spike_rates_after_quantization"].values()) > 0   # both conv layers spike
    with np.load(tmp_path / "f" / "weights.npz") as f, np.load(tmp_path / "c" / "weights.npz") as c:
        for key in ("c1", "c2", "out"):
            assert np.abs(c[key] - f[key]).max() / np.abs(f[key]).max() < 1e-4


def test_conv_network_learns_on_chip(tmp_path):
    cfg = small_conv_config(tmp_path / "conv.yaml", {"core": {"neurons": 128}})
    assert main(["run", str(cfg), "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["final"]["test_accuracy"] > 0.6
    counts = report["chip"]["counts"]["training"]["c1"]
    assert counts["gradient_macs"] > 0 and counts["accumulator_updates"] > 0
    costs = report["costs"]
    assert len(costs["placement"]["layers"]["c1"]) == 4            # 512 neurons, 128 per core
    per_core = costs["training"]["events_per_core"]
    c1 = costs["placement"]["layers"]["c1"]
    assert sum(per_core[str(c)]["active_neuron_updates"] for c in c1) == \
        report["chip"]["counts"]["training"]["c1"]["active_neuron_updates"]
    with np.load(tmp_path / "r" / "weights.npz") as w:
        assert w["c1"].shape == (8, 1, 3, 3)
