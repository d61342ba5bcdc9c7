"""report.json's ``neurobench`` block against NeuroBench itself: the same snnTorch network
(dyadic weights, 30 % of them zero, beta 0.5, so that the chip's arithmetic reproduces
snnTorch's spikes exactly) run by NeuroBench's Benchmark with its hook-based metrics and by
chipsim on chip from the state_dict; every metric agrees to the operation. And the chip
wrapped as a NeuroBench model (chipsim.neurobench_model) gets the same results from
NeuroBench's Benchmark as the snnTorch network."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from chipsim.neurobench_model import neurobench_model
from chipsim.simulation import Simulation

torch = pytest.importorskip("torch", reason="needs torch (pip install 'chipsim[torch]')")
snn = pytest.importorskip("snntorch", reason="needs snnTorch (pip install 'chipsim[torch]')")
pytest.importorskip("neurobench", reason="needs neurobench (pip install --no-deps neurobench)")

from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.static import ConnectionSparsity, Footprint  # noqa: E402
from neurobench.metrics.workload import (ActivationSparsity, ClassificationAccuracy,  # noqa: E402
                                         MembraneUpdates, SynapticOperations)
from neurobench.models import SNNTorchModel  # noqa: E402
from neurobench.processors.postprocessors import ChooseMaxCount  # noqa: E402

N_IN, HIDDEN, CLASSES, STEPS, SAMPLES = 16, 12, 4, 10, 40


class Net(torch.nn.Module):
    """fc1 -> lif1 -> fc2 -> lif2, one step per call (NeuroBench's SNNTorchModel loops)."""

    def __init__(self, w1, w2):
        super().__init__()
        self.fc1 = torch.nn.Linear(N_IN, HIDDEN, bias=False)
        self.lif1 = snn.Leaky(beta=0.5, threshold=1.0, init_hidden=True)
        self.fc2 = torch.nn.Linear(HIDDEN, CLASSES, bias=False)
        self.lif2 = snn.Leaky(beta=0.5, threshold=1.0, init_hidden=True, output=True)
        with torch.no_grad():
            self.fc1.weight.copy_(torch.from_numpy(w1))
            self.fc2.weight.copy_(torch.from_numpy(w2))

    def forward(self, x):
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


def dyadic_weights(rng, shape):
    """Multiples of 1/16, at least 30 % exactly zero: every membrane value is exact in
    float32."""
    w = rng.integers(-12, 21, shape) / 16.0
    w.flat[rng.permutation(w.size)[:int(0.3 * w.size)]] = 0.0
    return w.astype(np.float32)


def test_the_neurobench_block_equals_neurobenchs_own_metrics(tmp_path):
    rng = np.random.default_rng(7)
    net = Net(dyadic_weights(rng, (HIDDEN, N_IN)) * 2, dyadic_weights(rng, (CLASSES, HIDDEN)))
    x = (rng.random((SAMPLES, STEPS, N_IN)) < 0.3).astype(np.float32)
    y = rng.integers(0, CLASSES, SAMPLES)
    buffers = sum(b.numel() * b.element_size() for b in net.buffers())  # before any forward
    footprint = Footprint()(SNNTorchModel(net)) - buffers  # the parameters alone, float32

    def benchmark(model):
        return Benchmark(
            model, torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
                torch.from_numpy(x), torch.from_numpy(y)), batch_size=SAMPLES // 2),
            [], [ChooseMaxCount()],
            [[ConnectionSparsity, Footprint], [ClassificationAccuracy, ActivationSparsity,
                                               SynapticOperations, MembraneUpdates]]
        ).run(quiet=True)
    theirs = benchmark(SNNTorchModel(net))

    torch.save(net.state_dict(), tmp_path / "net.pt")
    (tmp_path / "net.yaml").write_text(yaml.safe_dump({"input": [N_IN], "layers": [
        {"name": "fc1", "type": "dense", "units": HIDDEN},
        {"name": "fc2", "type": "dense", "units": CLASSES}]}))
    np.savez(tmp_path / "spikes.npz", x=x.astype(np.uint8), y=y, x_test=x.astype(np.uint8),
             y_test=y)
    sim = Simulation({
        "data": {"source": "npz", "path": str(tmp_path / "spikes.npz"), "timesteps": STEPS},
        "network": {"layers": None, "model": str(tmp_path / "net.pt"),
                    "nir": {"convention": "snntorch", "dt": None}},
        "learning": {"rule": "none"},
        "chip": {"arithmetic": "fixed", "bits": {"weight": 16, "membrane": 32}},
        "output": {"plots": False}})
    ours = sim.report()["neurobench"]
    # the chip itself under NeuroBench's Benchmark (chipsim.neurobench_model)
    wrapped = benchmark(neurobench_model(sim))
    assert wrapped == {**theirs, "Footprint": footprint}  # no snnTorch buffers in the chip

    # snnTorch's spikes, exactly (otherwise the counts below would differ by chance)
    # (NeuroBench weights each batch's accuracy and sparsity in float32: 1e-7 apart)
    assert ours["classification_accuracy"] == pytest.approx(theirs["ClassificationAccuracy"],
                                                            abs=1e-6)
    assert 0.2 < ours["activation_sparsity"] < 0.95  # the layers spike, not always
    assert ours["activation_sparsity"] == pytest.approx(theirs["ActivationSparsity"], rel=1e-6)
    synops = theirs["SynapticOperations"]
    assert ours["effective_acs"] == synops["Effective_ACs"] > 0
    assert ours["effective_macs"] == synops["Effective_MACs"] == 0  # binary spikes in
    assert ours["dense_synaptic_ops"] == synops["Dense"] == STEPS * (N_IN + CLASSES) * HIDDEN
    assert ours["effective_acs"] < 0.7 * ours["dense_synaptic_ops"]  # zeros and silence skipped
    assert ours["membrane_updates"] == theirs["MembraneUpdates"]
    assert round(ours["connection_sparsity"], 4) == theirs["ConnectionSparsity"] >= 0.3
    # 16-bit weights take 2 bytes where torch's float32 takes 4; no biases
    assert ours["footprint_bytes"] == footprint // 2 == 2 * (N_IN + CLASSES) * HIDDEN


@pytest.mark.parametrize("c, h, w, co, k, stride, pad, pool", [
    (2, 6, 5, 3, 3, 1, 1, 1), (1, 7, 7, 2, 3, 2, 0, 1), (3, 8, 6, 4, 2, 2, 1, 2)])
def test_dense_conv_ops_count_what_neurobench_counts(c, h, w, co, k, stride, pad, pool):
    """NeuroBench's Dense for a conv: the conv of an all-ones input with all-ones weights,
    summed (padding reaches nothing); on a pooled map when pooling is in front."""
    from types import SimpleNamespace

    from chipsim.report.neurobench import dense_ops_per_step
    hp, wp = h // pool, w // pool
    out_h, out_w = (hp + 2 * pad - k) // stride + 1, (wp + 2 * pad - k) // stride + 1
    m = SimpleNamespace(**{key: np.array([v]) for key, v in dict(
        conv=1, pool=pool, pre_c=c, pre_h=h, pre_w=w, out_c=co, out_h=out_h, out_w=out_w,
        kernel_h=k, kernel_w=k, stride_h=stride, stride_w=stride, pad_h=pad, pad_w=pad).items()})
    theirs = torch.nn.functional.conv2d(torch.ones(1, c, hp, wp), torch.ones(co, c, k, k),
                                        stride=stride, padding=pad).sum()
    assert dense_ops_per_step(m, 0) == int(theirs)
