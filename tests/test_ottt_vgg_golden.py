"""The float64 reference reproduces the OTTT authors' own weight-standardized VGG code on a
small conv net (tests/data/ottt_vgg_golden.*): OTTT_A per-step gradients and final weights,
OTTT_O and BPTT final weights (raw weights, gains, biases) to 1e-9 relative, with the network
given as a net.yaml and, through chipsim's re-implementation of the authors' modules, from_torch."""
import hashlib
import json

import numpy as np
import pytest

from chipsim.cli import main
from chipsim.config import load_config
from chipsim.data import load_dataset
from chipsim.build import make_float_model, network_from_config

from conftest import DATA, write_yaml
from test_golden import Recorder, close, largest_error

SCALE = 2.74  # the authors' Scale(2.74) after every neuron
LAYERS = ("c1", "c2", "out")
# the authors' VGG (cfg [4, 'M', 512], c_in 2, fc_hw 1) as chipsim layers
NET_LAYERS = [{"name": "c1", "type": "conv2d", "channels": 4, "kernel": 3, "padding": 1},
              {"name": "p1", "type": "avgpool2d", "kernel": 2},
              {"name": "c2", "type": "conv2d", "channels": 512, "kernel": 3, "padding": 1},
              {"name": "gap", "type": "avgpool2d", "kernel": 4},   # AdaptiveAvgPool2d(1)
              {"name": "f", "type": "flatten"},
              {"name": "out", "type": "dense", "units": 10, "neuron": "readout"}]


@pytest.fixture(scope="module")
def vgg():
    with np.load(DATA / "ottt_vgg_golden.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


_record_errors = largest_error("vgg")


def test_copy_matches_recorded_sha256():
    meta = json.loads((DATA / "ottt_vgg_golden.json").read_text())
    assert hashlib.sha256((DATA / "ottt_vgg_golden.npz").read_bytes()).hexdigest() \
        == meta["sha256"]


def effective(g, name):
    """The weights the authors' layer computes with, 2.74 folded in where spikes feed it."""
    return g[f"effective_{name}"] * (1.0 if name == "c1" else SCALE)


def write_run(tmp_path, g, rule, variant):
    """net.yaml, initial weights (effective + raw + gain + bias) and data for the golden net."""
    init = {}
    for name in LAYERS:
        init[name] = effective(g, name)
        for part in ("raw", "gain", "bias"):
            if f"init_{name}.{part}" in g:
                init[f"{name}.{part}"] = g[f"init_{name}.{part}"]
    np.savez(tmp_path / "w0.npz", **init)
    x = g["x"].reshape(len(g["x"]), -1)   # a static image, the same input every step
    np.savez(tmp_path / "data.npz", x=x, y=g["label"], x_test=x, y_test=g["label"])
    return write_yaml(tmp_path / "vgg.yaml", {
        "data": {"source": "npz", "path": str(tmp_path / "data.npz"), "encoding": "direct",
                 "timesteps": int(g["T"])},
        "network": {"input_shape": list(g["x"].shape[1:]), "bias": True, "layers": NET_LAYERS,
                    "weight_standardization": {"enabled": True, "readout": False},
                    "init": {"weights": str(tmp_path / "w0.npz")}},
        "learning": {"rule": rule, "variant": variant, "surrogate": {"alpha": 4.0},
                     "loss": {"mse_weight": float(g["loss_lambda"])},
                     "optimizer": {"lr": float(g["lr"]), "momentum": float(g["momentum"])},
                     "batch_size": len(g["label"]), "epochs": 1, "shuffle": False},
        "chip": {"arithmetic": "float64"}, "output": {"plots": False}})


@pytest.mark.parametrize("rule,variant", [("ottt", "A"), ("ottt", "O"), ("bptt", "A")])
def test_cli_run_reproduces_the_authors_final_parameters(tmp_path, vgg, rule, variant):
    method = "bptt" if rule == "bptt" else f"ottt_{variant}"
    cfg = write_run(tmp_path, vgg, rule, variant)
    assert main(["run", str(cfg), "--out", str(tmp_path / "run")]) == 0
    with np.load(tmp_path / "run" / "weights.npz") as w:
        assert "out.gain" not in w.files            # the authors' read-out has no gain
        for key in [k.removeprefix(f"{method}_final_") for k in vgg
                    if k.startswith(f"{method}_final_")]:
            moved = vgg[f"{method}_final_{key}"] - vgg[f"init_{key}"]
            assert np.abs(moved).max() > 1e-6, key    # every parameter learned something
            close(w[key] - vgg[f"init_{key}"], moved)  # the change, relative to its size
            close(w[key], vgg[f"{method}_final_{key}"])


def test_per_step_read_out_spikes_and_gradients_of_ottt_a(tmp_path, vgg):
    """Step by step: the read-out, both layers' spikes and the gradients of raw weights,
    gains and biases at every step (the authors' .grad differences)."""
    g = vgg
    config = load_config(write_run(tmp_path, g, "ottt", "A"))
    data = load_dataset(config.data, config.seed)
    network = network_from_config(config, data)
    model = make_float_model(config, network, None)
    for name in LAYERS:   # the authors' standardized weight x scale is what chipsim computes with
        close(model.params.weights[[l.name for l in network.synaptic].index(name)],
              effective(g, name), 1e-12)
    raw = [r.copy() for r in model.params.raw]   # the chain rule to raw weights and gains
    gain = [None if a is None else a.copy() for a in model.params.gain]   # is taken here
    rule = model.rule = Recorder(model.rule)
    x = np.repeat(data.x_train[:, None, :], int(g["T"]), axis=1)
    model.train_batch(x, data.y_train)
    model.params.raw, model.params.gain = raw, gain   # as during the sample (A: frozen)
    close([r.u[-1] for r in rule.records], g["ottt_A_out"])
    assert np.array_equal(np.array([r.spikes[0] for r in rule.records]), g["ottt_A_spk_c1"])
    assert np.array_equal(np.array([r.spikes[1] for r in rule.records]), g["ottt_A_spk_c2"])
    names = [f"{n}.raw" for n in LAYERS] + ["c1.gain", "c2.gain"] + [f"{n}.bias" for n in LAYERS]
    for t, grads in enumerate(rule.grads):
        flat = model.params.flat(grads)   # dL/dW_eff carried back to raw weights and gains
        assert len(flat) == len(names)
        for name, got in zip(names, flat):
            close(got, g[f"ottt_A_grad_steps_{name}"][t])


def test_from_torch_on_the_authors_vgg_structure_gives_the_config_network(tmp_path, vgg):
    """chipsim's re-implementation of the authors' VGG (mapping/ottt_vgg.py) with the golden
    parameters, read by from_torch, is the network the net.yaml describes: same layers, same
    effective weights (the 2.74 folded into c2 and the read-out)."""
    torch = pytest.importorskip("torch")
    from chipsim.mapping.from_torch import from_torch
    from chipsim.mapping.ottt_vgg import ottt_vgg

    g = vgg
    config = load_config(write_run(tmp_path, g, "ottt", "A"))
    ref = network_from_config(config, load_dataset(config.data, config.seed))
    net = ottt_vgg([4, "M", 512], in_channels=2, num_classes=10, input_hw=8).double()
    convs = [m for m in net.modules() if type(m).__name__ == "ScaledWSConv2d"]
    with torch.no_grad():
        for m, name in zip(convs, ("c1", "c2")):
            m.weight.copy_(torch.from_numpy(g[f"init_{name}.raw"]))
            m.gain.copy_(torch.from_numpy(g[f"init_{name}.gain"]).reshape(-1, 1, 1, 1))
        net.classifier.weight.copy_(torch.from_numpy(g["init_out.raw"]))
    imported = from_torch(net, (2, 8, 8))
    kinds = lambda n: [(l.kind, l.n_in, l.n_out, l.spiking) for l in n.layers]  # noqa: E731
    assert kinds(imported) == kinds(ref)
    assert imported.neuron == ref.neuron
    for mine, theirs in zip(imported.synaptic, ref.synaptic):
        close(imported.weights[mine.name], effective(g, theirs.name), 1e-12)
    assert not imported.biases   # the authors start from zero biases; a zero bias is no bias
