"""Placing a network's layers on the chip's cores, within each core's limits.

A layer is split over cores by its output neurons: every core of the layer holds all of the
layer's input axons (with their trace registers) and the synapse rows of its own slice of
neurons. Layers go to cores in a snake order over the mesh (row 0 left to right, row 1 right
to left, ...), so consecutive layers sit on neighbouring cores.

Synapse SRAM of a core holds, in words of ``word_bits``, each row padded to whole words:
weights (n_in rows of k weights), OTTT_A accumulators (same shape), broadcast feedback
(classes rows of k entries) and, with ``backward: copy``, a transposed weight copy (k rows of
n_in weights). Registers (membranes, error registers, axon traces) are counted beside it.

Design rules, each checked for every layer before anything runs:
  fan_in_fits_axons       n_in <= axons per core (no partial-sum splitting of fan-in)
  neuron_fits_memory      one neuron's synapse rows (and rule memories) fit the SRAM
  cores_fit_mesh          the cores all layers need <= cores of the mesh
A violation raises DoesNotFitError listing every violated rule with layer, need and limit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from chipsim.errors import DoesNotFitError


@dataclass(frozen=True)
class CoreSpec:
    """One core's limits: neurons, input axons, synapse SRAM (bits) and its word width."""

    neurons: int
    axons: int
    sram_bits: int
    word_bits: int = 64


@dataclass(frozen=True)
class Widths:
    """Bit widths that decide memory use (see chip.formats)."""

    weight: int
    membrane: int
    trace: int
    error: int
    accumulator: int


@dataclass(frozen=True)
class CoreSlice:
    """Core ``core`` at mesh position (x, y) holds neurons [first, first + count) of a layer."""

    core: int
    x: int
    y: int
    layer: int
    name: str
    first: int
    count: int
    n_in: int
    memory: dict = field(default_factory=dict)   # bits by kind, see core_memory


@dataclass(frozen=True)
class Placement:
    mesh: tuple[int, int]
    cores: tuple[CoreSlice, ...]
    layer_cores: tuple[tuple[int, ...], ...]     # core ids per layer
    spec: CoreSpec

    def cores_of(self, layer: int) -> list[CoreSlice]:
        return [self.cores[c] for c in self.layer_cores[layer]]


def _row_bits(entries: int, width: int, word: int) -> int:
    """A row of ``entries`` values of ``width`` bits, padded to whole words."""
    return math.ceil(entries * width / word) * word if entries else 0


def core_memory(n_in: int, count: int, widths: Widths, spec: CoreSpec, *, classes: int,
                accumulators: bool, feedback: bool, transposed_copy: bool, traces: bool,
                error_registers: bool, destinations: int, mesh_cores: int) -> dict:
    """Bits a core needs for ``count`` neurons with ``n_in`` input axons, by kind.

    ``sram_*`` entries live in the synapse SRAM; the others are registers and tables.
    """
    w = spec.word_bits
    address_bits = max(1, math.ceil(math.log2(max(2, mesh_cores))))
    axon_bits = max(1, math.ceil(math.log2(max(2, spec.axons))))
    mem = {
        "sram_weights": n_in * _row_bits(count, widths.weight, w),
        "sram_weights_unpadded": n_in * count * widths.weight,
        "sram_accumulators": n_in * _row_bits(count, widths.accumulator, w) if accumulators else 0,
        "sram_feedback": classes * _row_bits(count, widths.weight, w) if feedback else 0,
        "sram_transposed_copy": count * _row_bits(n_in, widths.weight, w) if transposed_copy else 0,
        "neuron_state": count * (widths.membrane + (widths.error if error_registers else 0)),
        "trace_registers": n_in * widths.trace if traces else 0,
        # one multicast entry per destination core: its mesh address and first axon
        "routing_table": destinations * (address_bits + axon_bits),
    }
    mem["sram_used"] = (mem["sram_weights"] + mem["sram_accumulators"] + mem["sram_feedback"]
                        + mem["sram_transposed_copy"])
    mem["sram_available"] = spec.sram_bits
    return mem


def snake(k: int, mesh: tuple[int, int]) -> tuple[int, int]:
    """Mesh position of the k-th core in snake order."""
    width = mesh[0]
    y = k // width
    x = k % width if y % 2 == 0 else width - 1 - k % width
    return x, y


def place(layers: list[tuple[str, int, int]], widths: Widths, spec: CoreSpec,
          mesh: tuple[int, int], *, classes: int, accumulators: bool, feedback: bool,
          transposed_copy: bool, traces: bool, error_registers: bool,
          input_trace: bool = False) -> Placement:
    """Split and place layers given as (name, n_in, n_out); raises DoesNotFitError.

    Hidden layers get feedback memory (broadcast); layers above the first get a transposed
    copy (``backward: copy``); every core but the first layer's holds axon traces, the first
    layer's only with ``input_trace``.
    """
    problems, counts = [], []
    mesh_cores = mesh[0] * mesh[1]
    last = len(layers) - 1

    def memory(i, n_in, count, destinations=0):
        return core_memory(n_in, count, widths, spec, classes=classes,
                           accumulators=accumulators, feedback=feedback and i < last,
                           transposed_copy=transposed_copy and i > 0,
                           traces=traces and (i > 0 or input_trace),
                           error_registers=error_registers, destinations=destinations,
                           mesh_cores=mesh_cores)

    for i, (name, n_in, n_out) in enumerate(layers):
        if n_in > spec.axons:
            problems.append(f"layer '{name}' (fan_in_fits_axons): needs {n_in} input axons on "
                            f"each of its cores, a core has {spec.axons} (chip.core.axons)")
            counts.append(None)
            continue
        one = memory(i, n_in, 1)["sram_used"]
        if one > spec.sram_bits:
            problems.append(f"layer '{name}' (neuron_fits_memory): one neuron's synapse rows "
                            f"need {one} bits of synapse memory, a core has {spec.sram_bits} "
                            f"({spec.sram_bits // 8192} KiB, chip.core.synapse_memory_kib)")
            counts.append(None)
            continue
        per_core = min(spec.neurons, n_out)
        while per_core > 1 and memory(i, n_in, per_core)["sram_used"] > spec.sram_bits:
            per_core -= 1
        n_cores = math.ceil(n_out / per_core)
        counts.append((n_cores, math.ceil(n_out / n_cores)))
    needed = sum(c[0] for c in counts if c)
    if not problems and needed > mesh_cores:
        per_layer = ", ".join(f"'{name}': {c[0]}" for (name, _, _), c in zip(layers, counts))
        problems.append(f"network (cores_fit_mesh): needs {needed} cores ({per_layer}), the "
                        f"chip has {mesh_cores} (chip.mesh {list(mesh)})")
    if problems:
        raise DoesNotFitError("the network does not fit the chip:\n"
                              + "\n".join(f"  {p}" for p in problems))
    cores, layer_cores, k = [], [], 0
    for i, ((name, n_in, n_out), (n_cores, size)) in enumerate(zip(layers, counts)):
        ids = []
        destinations = counts[i + 1][0] if i < last else 0
        for first in range(0, n_out, size):
            count = min(size, n_out - first)
            x, y = snake(k, mesh)
            cores.append(CoreSlice(k, x, y, i, name, first, count, n_in,
                                   memory(i, n_in, count, destinations)))
            ids.append(k)
            k += 1
        layer_cores.append(tuple(ids))
    return Placement(tuple(mesh), tuple(cores), tuple(layer_cores), spec)
