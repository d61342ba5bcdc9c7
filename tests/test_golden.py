"""The float64 references reproduce the OTTT authors' own code (tests/data/ottt_golden.*)."""
import hashlib

import numpy as np
import pytest

from chipsim.cli import main
from chipsim.float64 import Params, initial_state, step, train_batch
from chipsim.mapping.network import Dense, Network, Neuron
from chipsim.rules.bptt import BPTT
from chipsim.rules.loss import step_loss
from chipsim.rules.ottt import OTTT
from chipsim.rules.sgd import SGD

from conftest import DATA, write_yaml

RTOL = 1e-9
ERRORS = []  # the relative errors close() measured in the running test


def close(actual, expected, rtol=RTOL):
    """max |a - e| <= rtol * max |e| (relative to the array's scale, as the JSON states)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(np.abs(expected).max(), 1e-300)
    err = np.abs(actual - expected).max() / scale
    assert err <= rtol, f"relative error {err:.3g} > {rtol}"
    ERRORS.append(err)


def largest_error(group: str):
    """An autouse fixture: the largest error close() saw in each test is a number the README
    quotes (as a bound: see conftest.measured), under ``group/<test name>``."""
    @pytest.fixture(autouse=True)
    def record(request, measured):
        ERRORS.clear()
        yield
        if ERRORS:
            measured(f"{group}/{request.node.name}", max(ERRORS), digits=None)
    return record


_record_errors = largest_error("golden")


def test_copy_matches_recorded_sha256(golden_meta):
    digest = hashlib.sha256((DATA / "ottt_golden.npz").read_bytes()).hexdigest()
    assert digest == golden_meta["sha256"]


def golden_net(g):
    return Network(20, (Dense("h1", 20, 16), Dense("out", 16, 4, spiking=False)), Neuron(),
                   {"h1": g["W1"].copy(), "out": g["W2"].copy()}, {})


def batch_major(g):
    return np.transpose(g["x"], (1, 0, 2))  # golden arrays are time-major (T, B, n)


def write_golden_run(tmp_path, g, rule, variant, input_trace, momentum):
    """net.yaml + initial weights npz + data npz for the golden net; returns the yaml path."""
    np.savez(tmp_path / "w0.npz", h1=g["W1"], out=g["W2"])
    x = batch_major(g)
    np.savez(tmp_path / "data.npz", x=x, y=g["label"], x_test=x, y_test=g["label"])
    return write_yaml(tmp_path / "golden.yaml", {
        "seed": 0,
        "data": {"source": "npz", "path": str(tmp_path / "data.npz"), "timesteps": 6},
        "network": {"neuron": {"tau": 2.0, "threshold": 1.0}, "input_trace": input_trace,
                    "layers": [{"name": "h1", "units": 16},
                               {"name": "out", "units": 4, "neuron": "readout"}],
                    "init": {"weights": str(tmp_path / "w0.npz")}},
        "learning": {"rule": rule, "variant": variant, "surrogate": {"alpha": 4.0},
                     "loss": {"mse_weight": float(g["loss_lambda"])},
                     "optimizer": {"lr": float(g["lr"]), "momentum": momentum},
                     "batch_size": 3, "epochs": 1, "shuffle": False},
        "chip": {"arithmetic": "float64"},
        "output": {"plots": False},
    })


@pytest.mark.parametrize("prefix", ["", "tin_"])
@pytest.mark.parametrize("variant", ["A", "O"])
def test_cli_run_reproduces_final_weights(tmp_path, golden, prefix, variant):
    cfg = write_golden_run(tmp_path, golden, "ottt", variant, prefix == "tin_",
                           float(golden["momentum"]))
    assert main(["run", str(cfg), "--out", str(tmp_path / "run")]) == 0
    with np.load(tmp_path / "run" / "weights.npz") as w:
        close(w["h1"], golden[f"{prefix}ottt_{variant}_w_final_W1"])
        close(w["out"], golden[f"{prefix}ottt_{variant}_w_final_W2"])


def test_cli_run_bptt_is_one_sgd_step_of_the_golden_gradient(tmp_path, golden):
    cfg = write_golden_run(tmp_path, golden, "bptt", "A", False, float(golden["momentum"]))
    assert main(["run", str(cfg), "--out", str(tmp_path / "run")]) == 0
    lr = float(golden["lr"])  # first SGD step with a fresh buffer: W - lr * grad
    with np.load(tmp_path / "run" / "weights.npz") as w:
        close(w["h1"], golden["W1"] - lr * golden["bptt_grad_W1"])
        close(w["out"], golden["W2"] - lr * golden["bptt_grad_W2"])


class Recorder:
    """Wraps a rule and keeps what the trainer showed it and what it returned, per step."""

    def __init__(self, rule):
        self.rule, self.records, self.grads, self.weights = rule, [], [], []
        self.updates_every_step = rule.updates_every_step

    def begin(self, labels):
        self.rule.begin(labels)

    def step(self, t, record, weights):
        self.records.append(record)
        self.weights.append([w.copy() for w in weights])
        self.grads.append(self.rule.step_gradients(record, weights))
        return self.rule.step(t, record, weights)

    def end(self, weights):
        return self.rule.end(weights)


@pytest.mark.parametrize("prefix", ["", "tin_"])
@pytest.mark.parametrize("variant", ["A", "O"])
def test_per_step_states_and_gradients(golden, prefix, variant):
    g, key = golden, f"{prefix}ottt_{variant}_"
    net = golden_net(g)
    rule = Recorder(OTTT(variant=variant, input_trace=prefix == "tin_",
                         mse_weight=float(g["loss_lambda"])))
    params = Params.of(net)
    train_batch(net, params, batch_major(g), g["label"], rule,
                SGD(float(g["lr"]), float(g["momentum"])))
    recs = rule.records
    close([r.u[0] for r in recs], g[key + "vpre_h1"])
    close([r.spikes[0] for r in recs], g[key + "spk_h1"])
    close([r.traces[1] for r in recs], g[key + "trace_h1"])
    close([r.u[1] for r in recs], g[key + "out"])
    close([step_loss(r.u[1], g["label"], float(g["loss_lambda"]), 6) for r in recs],
          g[key + "loss"])
    close([gr[0][0] for gr in rule.grads], g[key + "grad_steps_W1"])
    close([gr[0][1] for gr in rule.grads], g[key + "grad_steps_W2"])
    if prefix == "tin_":
        close([r.traces[0] for r in recs], g[key + "trace_in"])
    if variant == "O":
        close([w[0] for w in rule.weights], g[key + "w_before_W1"])
        close([w[1] for w in rule.weights], g[key + "w_before_W2"])


@pytest.mark.parametrize("method,detach", [("bptt", True), ("bpttnd", False)])
def test_bptt_gradients_total_and_per_loss_term(golden, method, detach):
    g = golden
    net, params = golden_net(g), Params.of(golden_net(g))
    rule = BPTT(detach_reset=detach, mse_weight=float(g["loss_lambda"]))
    rule.begin(g["label"])
    state = initial_state(net, 3)
    for t, x_t in enumerate(g["x"]):
        state, rec = step(net, params, state, x_t)
        rule.step(t, rec, params.weights)
    records = list(rule.records)
    close([r.spikes[0] for r in records], g[f"{method}_spk_h1"])
    close([r.u[1] for r in records], g[f"{method}_out"])
    grad_w, _ = rule.end(params.weights)
    close(grad_w[0], g[f"{method}_grad_W1"])
    close(grad_w[1], g[f"{method}_grad_W2"])
    from chipsim.rules.loss import step_loss_grad

    deltas = np.stack([step_loss_grad(r.u[1], g["label"], 0.05, 6) for r in records])
    for t in range(6):
        only_t = np.zeros_like(deltas)
        only_t[t] = deltas[t]
        gw, _ = rule.gradients(records, params.weights, only_t)
        close(gw[0], g[f"{method}_grad_per_loss_term_W1"][t])
        close(gw[1], g[f"{method}_grad_per_loss_term_W2"][t])
