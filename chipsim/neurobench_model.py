"""A chip as a NeuroBench model, so ``neurobench.benchmarks.Benchmark`` evaluates it with its
own metrics (the torch extra: neurobench needs torch; install it with ``pip install --no-deps
neurobench``).

NeuroBench measures a torch model through forward hooks. The chip is not a torch model, so
this wrapper fills the records those hooks would have made from the chip's recordings of
each batch: the inputs every synaptic layer received per step (the batch itself, then each
spiking layer's spikes), each spiking layer's spikes and its membrane u per step. ``__net__``
is a torch module that holds the chip's weights (and biases) in float32 ``nn.Linear`` layers (what
Footprint, ConnectionSparsity and SynapticOperations read: Footprint therefore counts 4 bytes
a weight, where report.json's ``neurobench.footprint_bytes`` counts the storage type). The
model returns the output layer's spikes (N, T, classes), or its membrane for a read-out layer:
``ChooseMaxCount()`` classifies either as chipsim does. Dense networks only.
"""
from __future__ import annotations

import numpy as np


class Leaky:
    """Stands for a spiking layer where NeuroBench reads its class name (and reset)."""
    _reset_mechanism = "subtract"


class _ActivationRecord:
    """The attributes NeuroBench's neuron hook keeps (per forward call, i.e. per step)."""

    def __init__(self, name: str):
        self.name, self.layer = name, Leaky()
        self.activation_outputs, self.activation_inputs = [], []
        self.pre_fire_mem_potential, self.post_fire_mem_potential = [], []

    def reset(self):
        for records in (self.activation_outputs, self.activation_inputs,
                        self.pre_fire_mem_potential, self.post_fire_mem_potential):
            records.clear()

    def close(self):
        pass


class _ConnectionRecord:
    """The attributes NeuroBench's layer hook keeps: the layer and its inputs per step."""

    class _Handle:
        def remove(self):
            pass

    def __init__(self, layer):
        self.layer, self.inputs, self.hook = layer, [], self._Handle()

    def register_hook(self):
        pass

    def reset(self):
        self.inputs.clear()

    def close(self):
        pass


def neurobench_model(sim):
    """A ``neurobench.models.NeuroBenchModel`` over Simulation ``sim`` (on the chip, dense
    layers): ``Benchmark(neurobench_model(sim), loader, [], [ChooseMaxCount()], metrics)``
    with batches (B, T, n_in) of the inputs the chip takes."""
    import torch
    from neurobench.models import NeuroBenchModel

    chip = sim.chip
    if chip is None:
        raise ValueError("neurobench_model needs the chip (chip.arithmetic: fixed)")
    if chip.memories.conv.any():
        raise ValueError("neurobench_model wraps dense networks only (this one has conv layers)")
    if not all(chip.memories.spiking[:-1]):
        raise ValueError("neurobench_model needs every layer but the last to spike")

    class ChipModel(NeuroBenchModel):
        def __init__(self):
            super().__init__()
            weights, biases = chip.weights()
            self.holder = torch.nn.Sequential(*(
                torch.nn.Linear(weights[name].shape[1], weights[name].shape[0],
                                bias=name in biases) for name in chip.names))
            with torch.no_grad():
                for layer, name in zip(self.holder, chip.names):
                    layer.weight.copy_(torch.from_numpy(weights[name].astype(np.float32)))
                    if name in biases:
                        layer.bias.copy_(torch.from_numpy(biases[name].astype(np.float32)))
            self.spiking = [bool(s) for s in chip.memories.spiking]

        def __net__(self):
            return self.holder

        def register_hooks(self):
            self.connection_hooks = [_ConnectionRecord(layer) for layer in self.holder]
            self.activation_hooks = [_ActivationRecord(name) for name, s in
                                     zip(chip.names, self.spiking) if s]

        def __call__(self, batch):
            x = batch.detach().cpu().numpy().astype(np.float64)
            _, kept = chip.probe(x, ("spikes", "membrane"))
            inputs = x
            records = iter(self.activation_hooks)
            for name, spiking, connection in zip(chip.names, self.spiking,
                                                 self.connection_hooks):
                connection.inputs += [(torch.from_numpy(inputs[:, t].astype(np.float32)),)
                                      for t in range(x.shape[1])]
                if not spiking:
                    continue
                spikes, u = kept[f"{name}.spikes"].astype(np.float32), kept[f"{name}.membrane"]
                record = next(records)
                previous = np.concatenate([np.zeros_like(u[:, :1]), u[:, :-1]], axis=1)
                for t in range(x.shape[1]):
                    record.activation_outputs.append(torch.from_numpy(spikes[:, t]))
                    record.pre_fire_mem_potential.append(torch.from_numpy(previous[:, t]))
                    record.post_fire_mem_potential.append(torch.from_numpy(u[:, t]))
                inputs = spikes
            last = chip.names[-1]
            out = kept[f"{last}.spikes"] if self.spiking[-1] else kept[f"{last}.membrane"]
            return torch.from_numpy(np.asarray(out, np.float32))

    return ChipModel()
