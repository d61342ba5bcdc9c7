"""A network trained in snnTorch, the way its tutorials do, brought onto chipsim.

Needs the torch extra (``pip install 'chipsim[torch]'``: torch, snntorch, nirtorch) and ``nir``.

    python examples/from_snntorch.py [OUT] [--trained FILE]   (OUT: runs/from_snntorch)

1. Trains snnTorch's tutorial network on scikit-learn's 8x8 digits (pixels / 16, chipsim's
   ``data.source: digits`` split with seed 0, so the test set is the one chipsim runs):
   ``nn.Linear(64, 64)`` -> ``snn.Leaky(beta=0.95)`` -> ``nn.Linear(64, 10)`` ->
   ``snn.Leaky(beta=0.95)`` (a spiking output, classified by spike count), biases on, direct
   (analog) input repeated for T = 25 steps, ``SF.ce_rate_loss()``, Adam, seeded. Training
   in float32 gives a slightly different network on a CPU with other vector instructions;
   ``--trained FILE`` loads a state_dict instead (tests/data/snntorch_digits.pt is the one
   the tests and the README's numbers use).
2. Writes what a user ships: ``net.pt`` (``torch.save(model.state_dict())``) with ``net.yaml``
   (the architecture), and ``net.nir`` from snnTorch's own ``export_nir.export_to_nir``
   (float32, as it ships; the exporter needs per-neuron beta and threshold tensors, so the
   trained values are copied into ``torch.full`` tensors first).
3. Loads both with chipsim (``network.model``) and runs chipsim's float64 reference: the spike
   counts of every neuron on every test sample must equal snnTorch's own forward (run in
   float64 on the same float32 parameters; the float32 forward is compared too and reported).
4. Runs both on the chip (fixed point: biases in neuron memory, snnTorch's neuron as it is:
   fire on u > threshold, subtract at the next step, lambda = beta in 16 bits) with 16- and
   8-bit weights, with the share of test samples whose output spike counts equal snnTorch's,
   then fine-tunes the 8-bit chip with OTTT (variant A, 2 epochs; the loss is on the output
   layer's membrane, as snnTorch's membrane losses).

Writes ``OUT/summary.json`` and the runs' folders; prints a table.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

HIDDEN = 64
BETA = 0.95
# the on-chip fine-tune of the imported network (learning section)
FINE_TUNE = {"rule": "ottt", "variant": "A", "error": "backprop", "epochs": 2, "batch_size": 8,
             "optimizer": {"type": "sgd", "lr": 0.05}}
TIMESTEPS = 25
SEED = 0
TEST_FRACTION = 0.25   # chipsim's default data.test_fraction: the same split as data.source: digits


def digits(seed: int = SEED):
    """chipsim's digits data set (pixels / 16) with the runner's seeded stratified split."""
    from chipsim.data.digits import load_digits

    return load_digits(TEST_FRACTION, seed)


def build(hidden: int = HIDDEN, beta: float = BETA):
    """snnTorch's tutorial network, children named as in its tutorials (fc1, lif1, ...)."""
    import snntorch as snn
    import torch

    return torch.nn.Sequential(OrderedDict(
        fc1=torch.nn.Linear(64, hidden), lif1=snn.Leaky(beta=beta, init_hidden=True),
        fc2=torch.nn.Linear(hidden, 10), lif2=snn.Leaky(beta=beta, init_hidden=True)))


def run_snntorch(net, x: np.ndarray, timesteps: int = TIMESTEPS, dtype: str = "float32"):
    """snnTorch's own forward on static x (N, 64), repeated every step: spike counts
    (hidden (N, H), output (N, 10)) as int arrays. ``dtype='float64'`` runs a float64 copy of
    the same (float32) parameters; snnTorch's spike functions return float32 0/1 spikes, which
    are cast (exactly) for the float64 Linear after them."""
    import torch

    for m in net:   # a membrane left from training holds its graph, which deepcopy refuses
        if hasattr(m, "reset_mem"):
            m.mem = torch.zeros(0)
    net = copy.deepcopy(net).to(getattr(torch, dtype)).eval()
    layers = list(net)
    neurons = [m for m in layers if hasattr(m, "reset_mem")]
    inp = torch.as_tensor(x, dtype=getattr(torch, dtype))
    counts = [0, 0]
    with torch.no_grad():
        for _ in range(timesteps):
            out, k = inp, 0
            for m in layers:
                out = m(out)
                if m in neurons:
                    out = out.to(inp.dtype)
                    counts[k] = counts[k] + out
                    k += 1
    return tuple(c.round().to(torch.int64).numpy() for c in counts)


def load_trained(path, hidden: int = HIDDEN):
    """The network with the parameters of a state_dict file (torch.save)."""
    import torch

    net = build(hidden)
    net.load_state_dict(torch.load(path, weights_only=True))
    return net


def train(data, epochs: int = 8, seed: int = SEED, hidden: int = HIDDEN, lr: float = 1e-2,
          batch_size: int = 64, timesteps: int = TIMESTEPS):
    """The tutorial loop: per batch, reset the neurons, run T steps, ce_rate_loss on the output
    spikes, Adam. Seeded (torch.manual_seed and the batch order)."""
    import snntorch.functional as SF
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)   # small matrices: threads cost more than they give (and vary)
    net = build(hidden)
    neurons = [net.lif1, net.lif2]
    loss_fn = SF.ce_rate_loss()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999))
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    order_rng = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=order_rng)
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            for m in neurons:   # these modules' state only (snnTorch's utils.reset resets all)
                m.mem = torch.zeros(0)
            spikes = []
            for _ in range(timesteps):
                spk = net(x[idx])
                spikes.append(spk[0] if isinstance(spk, tuple) else spk)
            loss = loss_fn(torch.stack(spikes), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for m in neurons:
        m.mem = torch.zeros(0)
    return net


def export_ready(net):
    """A copy whose Leaky beta and threshold are per-neuron tensors of the trained values:
    snnTorch's exporter writes 0-d parameters for scalar ones, which nir's type check refuses."""
    import torch

    net = copy.deepcopy(net)
    for name, fc in (("lif1", net.fc1), ("lif2", net.fc2)):
        leaky = getattr(net, name)
        leaky.beta = torch.full((fc.out_features,), float(leaky.beta))
        leaky.threshold = torch.full((fc.out_features,), float(leaky.threshold))
    return net


def architecture(hidden: int = HIDDEN) -> dict:
    """net.yaml beside net.pt: the layers; lif1/lif2 follow fc1/fc2 in the state_dict, so
    their beta and threshold set those layers' neurons (fc2 spikes: no 'neuron: readout')."""
    return {"input": [64], "layers": [{"name": "fc1", "type": "dense", "units": hidden},
                                      {"name": "fc2", "type": "dense", "units": 10}]}


def save_state_dict(net, folder: Path, name: str = "net") -> Path:
    import torch
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pt"
    torch.save(net.state_dict(), path)
    path.with_suffix(".yaml").write_text(yaml.safe_dump(architecture(net.fc1.out_features),
                                                        sort_keys=False))
    return path


def save_nir(net, folder: Path, name: str = "net") -> Path:
    """The file snnTorch's own exporter writes (float32), from an export-ready copy."""
    import warnings

    import nir
    import torch
    from snntorch.export_nir import export_to_nir

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.nir"
    with warnings.catch_warnings():   # nirtorch announces its API change on every call
        warnings.simplefilter("ignore")
        graph = export_to_nir(export_ready(net), torch.zeros(1, 64), ignore_dims=[0])
    nir.write(str(path), graph)
    return path


def run_chipsim(network, x: np.ndarray, timesteps: int = TIMESTEPS):
    """chipsim's float64 reference (chipsim.float64.infer) on static x (N, 64), direct input:
    spike counts per spiking layer, int arrays (N, units), input side first."""
    from chipsim.data.encoders import encode
    from chipsim.float64 import Params, infer

    xs = encode(x, timesteps, "direct", np.random.default_rng(0))
    _, kept = infer(network, Params.of(network), np.ascontiguousarray(xs), ("spikes",))
    return tuple(kept[f"{layer.name}.spikes"].sum(axis=1, dtype=np.int64)
                 for layer in network.synaptic if layer.spiking)


def accuracy(counts: np.ndarray, labels: np.ndarray) -> float:
    """snnTorch's rule (SF.accuracy_rate): the output with most spikes; ties to the lowest
    index, as torch.argmax and np.argmax."""
    return float(np.mean(counts.argmax(axis=1) == labels))


def run_config(model: Path, out: Path, **chip) -> dict:
    """chipsim's runner on net.yaml with network.model = ``model``: the digits split, direct
    input, T = 25; ``chip`` overrides sections (e.g. chip={...}, learning={...})."""
    import yaml

    from chipsim.config import load_config
    from chipsim.runner import run

    raw = {"seed": SEED,
           "data": {"source": "digits", "encoding": "direct", "timesteps": TIMESTEPS,
                    "test_fraction": TEST_FRACTION},
           "network": {"layers": None, "model": str(model.resolve()),
                       "nir": {"convention": "snntorch", "dt": None}},
           "learning": {"rule": "none"},
           "chip": {"arithmetic": "float64"},
           "output": {"plots": False, "record": ["spikes"]}}
    for section, values in chip.items():
        raw[section] = {**raw.get(section, {}), **values}
    out.mkdir(parents=True, exist_ok=True)
    (out / "net.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return run(load_config(out / "net.yaml"), out.name, out, echo=lambda *a: None,
               show_progress=False, overwrite=True)  # this example's earlier run


def runner_counts(report: dict, out: Path) -> tuple:
    """Spike counts per spiking layer (N, units) from a run's record.npz (test set order)."""
    names = [l["name"] for l in report["network"]["layers"] if isinstance(l["neuron"], dict)]
    with np.load(out / "record.npz") as record:
        return tuple(record[f"{name}.spikes"].sum(axis=1, dtype=np.int64) for name in names)


def chip_row(model: Path, out: Path, bits: int, theirs: np.ndarray,
             learning: dict | None = None) -> tuple[str, dict]:
    """Test accuracy on the chip as a table cell (or why chipsim refused the run), and the
    numbers: accuracy and the share of test samples whose output spike counts equal
    snnTorch's (``theirs``, float64). Inference keeps the weights' full range in the 2^bits
    steps (weight_headroom 1); fine-tuning leaves room to learn (headroom 2). Wide weights get
    Loihi's 24-bit membrane (at the default 16 bits its LSB would be 2^-9 of the threshold)."""
    from chipsim.errors import ChipsimError

    headroom = 2.0 if learning else 1.0
    widths = {"weight": bits, "membrane": 24} if bits > 8 else {"weight": bits}
    sections = {"chip": {"arithmetic": "fixed", "bits": widths, "weight_headroom": headroom}}
    if learning:
        sections["learning"] = learning
    try:
        report = run_config(model, out, **sections)
    except ChipsimError as exc:
        return f"refused: {' '.join(str(exc).split())}", {}
    counts = runner_counts(report, out)[-1]
    same = float(np.mean(np.all(counts == theirs, axis=1)))
    acc = report["final"]["test_accuracy"]
    if learning:   # the weights changed: snnTorch's spikes are no reference any more
        return f"{100 * acc:.2f} %", {"accuracy": acc}
    return (f"{100 * acc:.2f} % (output spike counts as snnTorch's on {100 * same:.1f} % of "
            "samples)", {"accuracy": acc, "output_counts_identical_fraction": same})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="runs/from_snntorch",
                        help="folder for the files and runs (default runs/from_snntorch)")
    parser.add_argument("--epochs", type=int, default=8, help="snnTorch training epochs")
    parser.add_argument("--trained", type=Path, default=None,
                        help="a state_dict to load instead of training (e.g. "
                             "tests/data/snntorch_digits.pt)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    from chipsim.mapping.load import load_model

    data = digits()
    t0 = time.perf_counter()
    net = load_trained(args.trained) if args.trained else train(data, epochs=args.epochs)
    seconds = time.perf_counter() - t0
    files = {"state_dict": save_state_dict(net, out), "nir": save_nir(net, out)}
    theirs64 = run_snntorch(net, data.x_test, dtype="float64")
    theirs32 = run_snntorch(net, data.x_test, dtype="float32")
    summary = {"train_seconds": seconds, "n_test": len(data.y_test),
               "snntorch_accuracy_float32": accuracy(theirs32[1], data.y_test),
               "snntorch_accuracy_float64": accuracy(theirs64[1], data.y_test), "paths": {}}
    rows = [("snnTorch forward, float32", f"{100 * summary['snntorch_accuracy_float32']:.2f} %"),
            ("snnTorch forward, float64", f"{100 * summary['snntorch_accuracy_float64']:.2f} %")]
    for kind, path in files.items():
        convention = "snntorch" if kind == "nir" else "nir"
        ours = run_chipsim(load_model(path, convention), data.x_test)
        same = [bool(np.array_equal(a, b)) for a, b in zip(ours, theirs64)]
        differ32 = int(sum(np.any(a != b, axis=1) for a, b in zip(ours, theirs32)).sum())
        result = {"file": str(path), "accuracy_float64": accuracy(ours[1], data.y_test),
                  "spike_counts_identical_to_snntorch_float64": all(same),
                  "samples_differing_from_snntorch_float32": differ32,
                  "chip": {}}
        rows.append((f"chipsim float64, {path.name}",
                     f"{100 * result['accuracy_float64']:.2f} % (spike counts "
                     f"{'identical' if all(same) else 'DIFFER'})"))
        runner = runner_counts(run_config(path, out / f"{kind}_float64"), out / f"{kind}_float64")
        same = all(np.array_equal(a, b) for a, b in zip(runner, theirs64))
        result["runner_float64_identical"] = same
        rows.append((f"chipsim run (net.yaml), {path.name}",
                     f"{100 * accuracy(runner[1], data.y_test):.2f} % (spike counts "
                     f"{'identical' if same else 'DIFFER'})"))
        for bits in (16, 8):
            cell, result["chip"][f"{bits}-bit"] = chip_row(path, out / f"{kind}_chip{bits}",
                                                           bits, theirs64[1])
            rows.append((f"chip {bits}-bit weights{', 24-bit membrane' if bits > 8 else ''}, "
                         f"{path.name}", cell))
        cell, result["chip"]["8-bit + OTTT fine-tune (2 epochs)"] = chip_row(
            path, out / f"{kind}_chip8_ottt", 8, theirs64[1], FINE_TUNE)
        rows.append((f"chip 8-bit + OTTT 2 epochs, {path.name}", cell))
        summary["paths"][kind] = result
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    width = max(len(r[0]) for r in rows)
    origin = (f"snnTorch's network from {args.trained}" if args.trained else
              f"snnTorch trained in {seconds:.1f} s")
    print(f"digits test set ({len(data.y_test)} samples), T = {TIMESTEPS}, {origin}")
    for label, value in rows:   # refusals in full in summary.json
        print(f"  {label:<{width}}  {value if len(value) <= 100 else value[:97] + '...'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
