"""The hardware-agnostic network description every importer produces: layers and float weights.

A network is data: frozen dataclasses holding sizes, neuron parameters and float64 weights in
(out, in) layout. Simulators (float64 reference or the chip) take it and run.
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chipsim.errors import DataError
from chipsim.seeding import stream


@dataclass(frozen=True)
class Neuron:
    """Leaky integrate-and-fire neuron, discrete time, no input decay, rest level 0.

    u[t] = lam * v[t-1] + I[t],  lam = 1 - 1/tau   (charge)
    s[t] = 1 if u[t] >= threshold                  (fire; a tie fires)
    v[t] = u[t] - threshold * s[t]                 (reset 'subtract'), or u[t] (1 - s[t]) ('zero')
    The presynaptic trace of a spiking layer decays with the same lam: a[t] = lam a[t-1] + s[t].
    """

    tau: float = 2.0
    threshold: float = 1.0
    reset: str = "subtract"

    @property
    def leak(self) -> float:
        """lam = 1 - 1/tau, the per-step decay of membrane and trace (dimensionless)."""
        return 1.0 - 1.0 / self.tau


@dataclass(frozen=True)
class Dense:
    """A fully connected layer of ``n_out`` neurons with ``n_in`` inputs; spiking or read-out."""

    name: str
    n_in: int
    n_out: int
    spiking: bool = True


@dataclass(frozen=True)
class Network:
    """Layers (input side first), the spiking neuron model and float64 parameters.

    ``weights[name]`` is (n_out, n_in); ``biases[name]`` is (n_out,) or absent when bias=False.
    """

    n_inputs: int
    layers: tuple[Dense, ...]
    neuron: Neuron = Neuron()
    weights: dict = field(default_factory=dict)
    biases: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out


def build_network(n_inputs: int, layer_specs: list[tuple[str, int, bool]], neuron: Neuron,
                  bias: bool, seed: int, gain: float = 1.0,
                  weights_file: str | None = None) -> Network:
    """Network from (name, units, spiking) specs; weights from ``weights_file`` or seeded.

    Seeded init: W ~ U(-b, b) with b = gain * sqrt(3 / fan_in), i.e. variance gain^2 / fan_in;
    biases start at 0. Each layer draws from its own stream, so layers do not shift each other.
    """
    layers, n = [], n_inputs
    for name, units, spiking in layer_specs:
        layers.append(Dense(name, n, units, spiking))
        n = units
    if weights_file is not None:
        weights, biases = load_weights(weights_file, layers, bias)
    else:
        weights, biases = {}, {}
        for i, layer in enumerate(layers):
            bound = gain * math.sqrt(3.0 / layer.n_in)
            rng = stream(seed, "init", i)
            weights[layer.name] = rng.uniform(-bound, bound, (layer.n_out, layer.n_in))
            if bias:
                biases[layer.name] = np.zeros(layer.n_out)
    return Network(n_inputs, tuple(layers), neuron, weights, biases)


def load_weights(path: str | Path, layers: list[Dense], bias: bool):
    """Read an npz keyed by layer name ((out, in) arrays; biases under ``<name>.bias``)."""
    arrays = read_npz(path, "weights file")
    weights, biases, problems = {}, {}, []
    for layer in layers:
        expect = {layer.name: (layer.n_out, layer.n_in)}
        if bias:
            expect[f"{layer.name}.bias"] = (layer.n_out,)
        for key, shape in expect.items():
            if key not in arrays:
                problems.append(f"missing array '{key}' of shape {shape}")
                continue
            a = arrays[key]
            if a.shape != shape:
                problems.append(f"array '{key}' has shape {a.shape}, layer needs {shape}")
            elif not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
                problems.append(f"array '{key}' holds NaN, inf or non-numbers")
            else:
                (biases if key.endswith(".bias") else weights)[key.removesuffix(".bias")] = (
                    a.astype(np.float64))
    if problems:
        raise DataError(f"weights file '{path}': " + "; ".join(problems)
                        + f" (arrays present: {', '.join(sorted(arrays)) or 'none'})")
    return weights, biases


def read_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """All arrays of an npz, loaded without pickle; any failure is a DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} '{path}' not found")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array (.npy), not named arrays")
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise DataError(f"{what} '{path}' is not a readable .npz file ({exc})") from None
