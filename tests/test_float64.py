"""Float64 reference: neuron semantics, loss gradient, optimizer and the OTTT/BPTT relations."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from chipsim.float64 import Params, initial_state, step, train_batch
from chipsim.mapping.network import Dense, Network, Neuron
from chipsim.rules.bptt import BPTT
from chipsim.rules.loss import step_loss, step_loss_grad
from chipsim.rules.ottt import OTTT, feedback_matrices
from chipsim.rules.sgd import SGD, clip_grad_norm
from chipsim.rules.surrogate import sigmoid_surrogate


def one_neuron(w, reset="subtract"):
    return Network(1, (Dense("h", 1, 1), Dense("out", 1, 1, spiking=False)),
                   Neuron(2.0, 1.0, reset), {"h": np.array([[w]]), "out": np.ones((1, 1))}, {})


def test_lif_charge_fire_tie_and_soft_reset():
    net = one_neuron(0.5)
    params, state = Params.of(net), initial_state(net, 1)
    us, ss = [], []
    for _ in range(4):
        state, rec = step(net, params, state, np.ones((1, 1)))
        us.append(rec.u[0][0, 0]); ss.append(rec.spikes[0][0, 0])
    # u: 0.5, 0.75, 0.875, 0.9375: never reaches 1 -> no spikes
    assert us == [0.5, 0.75, 0.875, 0.9375] and ss == [0, 0, 0, 0]
    net = one_neuron(1.0)  # u = 1.0 exactly: a tie fires, soft reset leaves 0
    params, state = Params.of(net), initial_state(net, 1)
    state, rec = step(net, params, state, np.ones((1, 1)))
    assert rec.spikes[0][0, 0] == 1 and state.v[0][0, 0] == 0.0 and state.a[0][0, 0] == 1.0
    state, rec = step(net, params, state, np.ones((1, 1)))
    assert rec.u[0][0, 0] == 1.0 and state.a[0][0, 0] == 1.5


def test_zero_reset():
    net = one_neuron(1.5, reset="zero")
    params, state = Params.of(net), initial_state(net, 1)
    state, rec = step(net, params, state, np.ones((1, 1)))
    assert rec.spikes[0][0, 0] == 1 and state.v[0][0, 0] == 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(2, 6), st.floats(0.0, 1.0), st.integers(0, 2**31))
def test_loss_gradient_matches_finite_differences(b, c, mse_weight, seed):
    rng = np.random.default_rng(seed)
    o, y = rng.normal(size=(b, c)), rng.integers(0, c, b)
    g = step_loss_grad(o, y, mse_weight, 6)
    eps = 1e-6
    for idx in np.ndindex(o.shape):
        d = np.zeros_like(o); d[idx] = eps
        fd = (step_loss(o + d, y, mse_weight, 6) - step_loss(o - d, y, mse_weight, 6)) / (2 * eps)
        assert abs(fd - g[idx]) < 1e-7


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 9), st.integers(1, 7), st.integers(2, 12), st.floats(-3, 3),
       st.integers(0, 2**31))
def test_per_sample_losses_are_scipys_log_softmax_bit_for_bit(n, t, c, decade, seed):
    from scipy.special import log_softmax

    from chipsim.rules.loss import onehot, sample_losses

    rng = np.random.default_rng(seed)
    o, y = rng.normal(0, 10 ** decade, (n, t, c)), rng.integers(0, c, n)
    ce = -log_softmax(o, axis=2)[np.arange(n), :, y]
    mse = ((o - onehot(y, c)[:, None, :]) ** 2).mean(axis=2)
    assert np.array_equal(sample_losses(o, y, 0.05), (0.95 * ce + 0.05 * mse).mean(axis=1))


def test_surrogate_peak_and_symmetry():
    assert sigmoid_surrogate(np.array(0.0), 4.0) == 1.0
    z = np.linspace(-3, 3, 13)
    assert np.allclose(sigmoid_surrogate(z, 4.0), sigmoid_surrogate(-z, 4.0))


def test_sgd_follows_torch_semantics():
    p = np.array([1.0, -2.0])
    opt = SGD(lr=0.1, momentum=0.9, weight_decay=0.01)
    g1, g2 = np.array([0.5, 0.5]), np.array([-1.0, 2.0])
    opt.step([p], [g1])
    d1 = g1 + 0.01 * np.array([1.0, -2.0])
    p1 = np.array([1.0, -2.0]) - 0.1 * d1
    assert np.allclose(p, p1)
    opt.step([p], [g2])
    buf = 0.9 * d1 + (g2 + 0.01 * p1)
    assert np.allclose(p, p1 - 0.1 * buf)


def test_gradient_clipping_follows_torch():
    """SGD with max_grad_norm against torch's clip_grad_norm_ + optim.SGD, step by step, with
    gradients above and below the limit (a step that is not clipped must be left exact)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    shapes = [(5, 4), (4,), (3, 5)]
    ours = [rng.normal(size=s) for s in shapes]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in ours]
    opt = SGD(lr=0.1, momentum=0.9, weight_decay=0.01, max_grad_norm=1.5)
    torch_opt = torch.optim.SGD(theirs, lr=0.1, momentum=0.9, weight_decay=0.01)
    for scale in (10.0, 0.01, 3.0):
        grads = [rng.normal(size=s) * scale for s in shapes]
        opt.step(ours, grads)
        for p, g in zip(theirs, grads):
            p.grad = torch.tensor(g)
        torch.nn.utils.clip_grad_norm_(theirs, 1.5)
        torch_opt.step()
        for p, q in zip(ours, theirs):
            assert np.allclose(p, q.detach().numpy(), rtol=1e-13, atol=1e-15)
    small = [np.full(3, 0.1)]
    assert clip_grad_norm(small, 1.0)[0].tolist() == small[0].tolist()  # under: untouched


def test_max_grad_norm_reaches_bptt_and_is_refused_on_chip():
    from chipsim.build import make_model, network_from_config
    from chipsim.config import validate_config
    from chipsim.errors import ConfigError
    from chipsim.data import Dataset

    raw = {"data": {"source": "npz", "path": "x.npz", "timesteps": 3},
           "network": {"layers": [{"name": "h", "units": 4},
                                  {"name": "out", "units": 2, "neuron": "readout"}]},
           "learning": {"rule": "bptt", "optimizer": {"lr": 0.5}},
           "chip": {"arithmetic": "float64"}}
    x = np.ones((2, 3, 3))
    data = Dataset("t", x, np.array([0, 1]), x, np.array([0, 1]), 2)


    def step_size(max_grad_norm):  # the norm of one batch's change of every parameter
        raw["learning"]["optimizer"]["max_grad_norm"] = max_grad_norm
        cfg = validate_config(raw)
        model = make_model(cfg, network_from_config(cfg, data), data)
        before = [p.copy() for p in model.params.flat()]
        model.train_batch(x, np.array([0, 1]))
        return np.sqrt(sum(((p - q) ** 2).sum() for p, q in zip(model.params.flat(), before)))

    assert step_size(None) > 0.5 * 0.01 * 2      # unclipped: well over the limit
    assert abs(step_size(0.01) - 0.5 * 0.01) < 1e-6  # lr x the clipped norm
    raw["learning"] = {"rule": "ottt", "optimizer": {"max_grad_norm": 1.0}}
    raw["chip"] = {"arithmetic": "fixed"}
    with pytest.raises(ConfigError, match="max_grad_norm"):
        validate_config(raw)


def random_net(rng, sizes, bias=False):
    layers, n = [], sizes[0]
    for i, m in enumerate(sizes[1:]):
        layers.append(Dense(f"l{i}", n, m, spiking=i < len(sizes) - 2))
        n = m
    weights = {l.name: rng.normal(0.3, 0.6, (l.n_out, l.n_in)) for l in layers}
    biases = {l.name: rng.normal(0, 0.1, l.n_out) for l in layers} if bias else {}
    return Network(sizes[0], tuple(layers), Neuron(), weights, biases)


def run_records(net, x):
    params, state, recs = Params.of(net), initial_state(net, x.shape[0]), []
    for t in range(x.shape[1]):
        state, rec = step(net, params, state, x[:, t])
        recs.append(rec)
    return params, recs


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 4), st.integers(2, 8))
def test_ottt_with_input_trace_is_exact_bptt_for_the_last_spiking_layer(seed, batch, steps):
    """With the reset detached, OTTT's gradient of the last spiking layer's weights (and with an
    input trace, of a single hidden layer) equals BPTT's: the golden data's 'exact case'."""
    rng = np.random.default_rng(seed)
    net = random_net(rng, [5, 7, 3])
    x = (rng.random((batch, steps, 5)) < 0.5).astype(float)
    y = rng.integers(0, 3, batch)
    params, recs = run_records(net, x)
    ottt = OTTT(variant="A", input_trace=True, timesteps=steps)
    ottt.begin(y)
    for t, rec in enumerate(recs):
        ottt.step(t, rec, params.weights)
    g_ottt = ottt.end(params.weights)
    bptt = BPTT(timesteps=steps)
    bptt.begin(y)
    for t, rec in enumerate(recs):
        bptt.step(t, rec, params.weights)
    g_bptt = bptt.end(params.weights)
    assert np.allclose(g_ottt[0][0], g_bptt[0][0], rtol=1e-10, atol=1e-14)


def test_variant_a_sums_step_gradients_and_o_applies_each():
    rng = np.random.default_rng(3)
    net = random_net(rng, [6, 9, 8, 4], bias=True)
    x, y = rng.random((2, 5, 6)), np.array([1, 3])
    params, recs = run_records(net, x)
    rule = OTTT(variant="A", timesteps=5)
    rule.begin(y)
    steps = [rule.step_gradients(r, params.weights) for r in recs]
    trained = Params.of(net)
    train_batch(net, trained, x, y, rule, SGD(0.5))
    for l in range(3):
        expect = params.weights[l] - 0.5 * sum(s[0][l] for s in steps)
        assert np.allclose(trained.weights[l], expect)
        assert np.allclose(trained.biases[l], params.biases[l] - 0.5 * sum(s[1][l] for s in steps))
    o_params = Params.of(net)
    train_batch(net, o_params, x, y, OTTT(variant="O", timesteps=5), SGD(0.5))
    assert not np.allclose(o_params.weights[0], trained.weights[0])


def test_broadcast_error_uses_the_fixed_feedback_matrices():
    rng = np.random.default_rng(4)
    net = random_net(rng, [6, 9, 8, 4])
    x, y = rng.random((2, 3, 6)), np.array([0, 2])
    params, recs = run_records(net, x)
    fb = feedback_matrices([9, 8], 4, seed=0)
    assert [b.shape for b in fb] == [(4, 9), (4, 8)]
    assert np.array_equal(fb[0], feedback_matrices([9, 8], 4, seed=0)[0])
    rule = OTTT(error="broadcast", feedback=fb, timesteps=3)
    rule.begin(y)
    gw, _ = rule.step_gradients(recs[1], params.weights)
    out_delta = step_loss_grad(recs[1].u[-1], y, 0.05, 3)
    delta0 = (out_delta @ fb[0]) * sigmoid_surrogate(recs[1].u[0] - 1.0, 4.0)
    assert np.allclose(gw[0], delta0.T @ recs[1].inputs[0])
    delta1 = (out_delta @ fb[1]) * sigmoid_surrogate(recs[1].u[1] - 1.0, 4.0)
    assert np.allclose(gw[1], delta1.T @ recs[1].traces[1])
