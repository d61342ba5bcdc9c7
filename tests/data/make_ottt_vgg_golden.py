"""Golden data for a small weight-standardized conv net, from the OTTT authors' own code.

Run from a folder that holds models/spiking_vgg.py and modules/{base,configure,neuron,
neuron_spikingjelly,surrogate}.py copied unmodified from github.com/pkuxmq/OTTT-SNN (commit
c15d5da) with empty __init__.py files (their code is not part of this repository):
    python make_ottt_vgg_golden.py
Writes ottt_vgg_golden.npz (the JSON beside it in tests/data describes every array) and
checks.json (firing rates; OTTT_A and BPTT forward equal). Not collected by pytest.
"""
import copy
import hashlib
import json
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

from models.spiking_vgg import OnlineSpikingVGG, ScaledWSConv2d
from modules import neuron, surrogate
from modules.neuron_spikingjelly import LIFNode

torch.set_default_dtype(torch.float64)

SEED, T, B, C_IN, HW, CLASSES = 2024, 3, 2, 2, 8, 10
CFG = [4, "M", 512]     # the last width is 512: OnlineSpikingVGG's light classifier is Linear(512 fc_hw^2, classes)
LR, MOMENTUM, LOSS_LAMBDA = 0.1, 0.9, 0.05
KW = dict(tau=2.0, surrogate_function=surrogate.Sigmoid(alpha=4.0), track_rate=True, c_in=C_IN,
          num_classes=CLASSES, neuron_dropout=0.0, fc_hw=1, v_reset=None)
# chipsim's layer name -> the authors' module path of the layer's op
LAYERS = {"c1": "features.0", "c2": "features.4", "out": "classifier.0"}


class BPTTLIFNode(LIFNode):
    """Shim for the BPTT reference: the authors' (SpikingJelly) LIFNode, membrane not detached,
    taking the keyword arguments OnlineSpikingVGG passes to its neurons (and ignoring them)."""

    def __init__(self, tau=2.0, decay_input=False, v_threshold=1.0, v_reset=None,
                 surrogate_function=surrogate.Sigmoid(alpha=4.0), detach_reset=True, **kwargs):
        super().__init__(tau, decay_input, v_threshold, v_reset, surrogate_function, detach_reset)

    def forward(self, x, **kwargs):
        return super().forward(x)


def ops(net):
    """chipsim layer name -> the authors' conv / linear module."""
    mods = dict(net.named_modules())
    out = {}
    for name, path in LAYERS.items():
        m = mods[path]
        out[name] = m.op if hasattr(m, "op") else m
    return out


def params_of(net):
    """Arrays keyed like chipsim's weights.npz: raw weight, gain (convs), bias."""
    out = {}
    for name, m in ops(net).items():
        out[f"{name}.raw"] = m.weight.detach().numpy().copy()
        if getattr(m, "gain", None) is not None:
            out[f"{name}.gain"] = m.gain.detach().numpy().reshape(-1).copy()
        out[f"{name}.bias"] = m.bias.detach().numpy().copy()
    return out


def grads_of(net):
    out = {}
    for name, m in ops(net).items():
        out[f"{name}.raw"] = m.weight.grad.detach().numpy().copy()
        if getattr(m, "gain", None) is not None:
            out[f"{name}.gain"] = m.gain.grad.detach().numpy().reshape(-1).copy()
        out[f"{name}.bias"] = m.bias.grad.detach().numpy().copy()
    return out


def step_loss(out_fr, label):
    """The authors' per-step loss (train_cifar.py, loss_lambda > 0 branch)."""
    label_one_hot = F.one_hot(label, CLASSES).double()
    mse_loss = torch.nn.MSELoss()(out_fr, label_one_hot)
    return ((1 - LOSS_LAMBDA) * F.cross_entropy(out_fr, label) + LOSS_LAMBDA * mse_loss) / T


def spikes_of(net):
    """Spikes saved by every neuron of the features (save_spike=True), flattened (B, n)."""
    return [s.detach().numpy().reshape(B, -1).copy() for s in net.get_spike()]


def train_ottt(net, frame, label, online_update):
    """One batch of the authors' OTTT loop (train_cifar.py, non-AMP branch)."""
    optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=0.0)
    net.train()
    rec = {"out": [], "loss": [], "spk_c1": [], "spk_c2": [], "grad_steps": [], "w_before": []}
    if not online_update:
        optimizer.zero_grad()
    for t in range(T):
        if online_update:
            optimizer.zero_grad()
        before = grads_of(net) if (t > 0 and not online_update) else None
        rec["w_before"].append(params_of(net))
        out_fr = net(frame, init=(t == 0), save_spike=True)
        loss = step_loss(out_fr, label)
        loss.backward()
        g = grads_of(net)
        if before is not None:
            g = {k: g[k] - before[k] for k in g}
        rec["grad_steps"].append(g)
        rec["out"].append(out_fr.detach().numpy().copy())
        rec["loss"].append(loss.item())
        s1, s2 = spikes_of(net)
        rec["spk_c1"].append(s1)
        rec["spk_c2"].append(s2)
        if online_update:
            optimizer.step()
    if not online_update:
        optimizer.step()
    rec["final"] = params_of(net)
    return rec


def train_bptt(net, frame, label):
    """Full BPTT of sum_t L_t with the same weights, the authors' LIFNode (no detach of v)."""
    optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=0.0)
    net.train()
    for m in net.modules():
        if isinstance(m, LIFNode):
            m.reset()
    optimizer.zero_grad()
    outs, losses, total = [], [], 0.0
    for t in range(T):
        out_fr = net(frame, init=(t == 0))
        loss = step_loss(out_fr, label)
        total = total + loss
        outs.append(out_fr.detach().numpy().copy())
        losses.append(loss.item())
    total.backward()
    grads = grads_of(net)
    optimizer.step()
    return {"out": outs, "loss": losses, "grad": grads, "final": params_of(net)}


def main():
    torch.manual_seed(SEED)
    online = OnlineSpikingVGG(cfg=CFG, weight_standardization=True,
                              single_step_neuron=neuron.OnlineLIFNode, grad_with_rate=True, **KW)
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():  # gains away from 1 (the authors start at 1) so gain handling shows
        for m in online.modules():
            if isinstance(m, ScaledWSConv2d):
                m.gain.copy_(0.8 + 0.4 * torch.rand(m.gain.shape, generator=gen))
    init = params_of(online)
    effective = {name: (m.get_weight() if hasattr(m, "get_weight") else m.weight)
                 .detach().numpy().copy() for name, m in ops(online).items()}
    frame = 1.5 * torch.randn(B, C_IN, HW, HW, generator=gen)
    label = torch.tensor([3, 7])

    a = train_ottt(copy.deepcopy(online), frame, label, online_update=False)
    o = train_ottt(copy.deepcopy(online), frame, label, online_update=True)
    bptt_net = OnlineSpikingVGG(cfg=CFG, weight_standardization=True,
                                single_step_neuron=BPTTLIFNode, grad_with_rate=False, **KW)
    # same parameters; the unwrapped net names them without WrapedSNNOp's '.op'
    bptt_net.load_state_dict({k.replace(".op.", "."): v for k, v in online.state_dict().items()})
    bp = train_bptt(bptt_net, frame, label)

    arrays = {"x": frame.numpy(), "label": label.numpy(), "T": np.array(T),
              "lr": np.array(LR), "momentum": np.array(MOMENTUM),
              "loss_lambda": np.array(LOSS_LAMBDA)}
    arrays.update({f"init_{k}": v for k, v in init.items()})
    arrays.update({f"effective_{k}": v for k, v in effective.items()})
    for method, rec in (("ottt_A", a), ("ottt_O", o)):
        arrays[f"{method}_out"] = np.stack(rec["out"])
        arrays[f"{method}_loss"] = np.array(rec["loss"])
        arrays[f"{method}_spk_c1"] = np.stack(rec["spk_c1"]).astype(np.uint8)
        arrays[f"{method}_spk_c2"] = np.stack(rec["spk_c2"]).astype(np.uint8)
        arrays.update({f"{method}_final_{k}": v for k, v in rec["final"].items()})
    for k in a["grad_steps"][0]:
        arrays[f"ottt_A_grad_steps_{k}"] = np.stack([g[k] for g in a["grad_steps"]])
    arrays["bptt_out"] = np.stack(bp["out"])
    arrays["bptt_loss"] = np.array(bp["loss"])
    arrays.update({f"bptt_grad_{k}": v for k, v in bp["grad"].items()})
    arrays.update({f"bptt_final_{k}": v for k, v in bp["final"].items()})

    np.savez_compressed("ottt_vgg_golden.npz", **arrays)
    # checks that are not golden data: chipsim's from_torch on the authors' own module
    checks = {"firing_rate_c1_ottt_A": float(arrays["ottt_A_spk_c1"].mean()),
              "firing_rate_c2_ottt_A": float(arrays["ottt_A_spk_c2"].mean()),
              "bptt_forward_equals_ottt_A_forward":
                  bool(np.array_equal(arrays["bptt_out"], arrays["ottt_A_out"])),
              "ottt_A_loss_sum": float(np.sum(arrays["ottt_A_loss"]))}
    print(json.dumps(checks, indent=1))
    with open("checks.json", "w") as f:
        json.dump(checks, f, indent=1)
    torch.save(online.state_dict(), "online_init_state.pt")


if __name__ == "__main__":
    main()
