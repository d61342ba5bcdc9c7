"""Placing a network's layers on the chip's cores, within each core's limits.

A layer is split over cores by its output neurons: every core of the layer holds all of the
layer's input axons (with their trace registers) and the synapse rows of its own slice of
neurons. A recurrent dense layer's input axons include one per neuron of its own, fed by the
layer's spikes of the last step (every core of the layer receives them). Layers go to cores
in a snake order over the mesh (row 0 left to right, row 1 right to left, ...), so
consecutive layers sit on neighbouring cores.

Synapse SRAM of a core holds, in words of ``word_bits``, each row padded to whole words:
weights (n_in rows of k weights), OTTT_A accumulators (same shape), broadcast feedback
(classes rows of k entries) and, with ``backward: copy``, a transposed weight copy (k rows of
n_in weights). Registers (membranes, error registers, axon traces) are counted beside it.

Convolutional layers are split into tiles: a core holds a group of output channels over a
block of output rows and columns, and as axons only the input window that block needs, for
a group of input channels. Its weights are either the kernel slice of its channel group, shared by all
positions (``conv_weights: shared``), or every connection stored explicitly (``unrolled``).
The tile shape is chosen to need the fewest cores, then the least memory.

When a neuron's fan-in exceeds a core's axons, the fan-in is split into input groups (input
neurons for dense layers, input channels for conv): each group's core accumulates a partial
dendritic sum for the same neurons and sends it, every step, as a graded packet to the
group-0 core, which holds the neurons' state (the soma) and fires (Loihi 2 style graded
messages; ``partial_sum_packets`` in the cost model). Pooling and flatten
carry no neurons: average/sum pooling (stride = kernel) in front of a synaptic layer is folded
into it (a conv with a p-times larger kernel and stride over the unpooled map; a dense layer
over the unpooled map with each weight repeated), which is exact for linear pooling.

Design rules, each checked for every layer before anything runs:
  fan_in_fits_axons       a core's input window (dense: n_in) <= axons per core
  neuron_fits_memory      one neuron's (or the smallest tile's) synapses fit the SRAM
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
    bias: int = 16


@dataclass(frozen=True)
class CoreSlice:
    """Core ``core`` at mesh position (x, y) holds ``count`` neurons of a layer: dense layers
    the contiguous neurons [first, first + count); conv layers the ``tile`` (channel, row and
    column ranges, ``first`` = -1). ``n_in`` is the number of input axons it holds and
    ``synapses`` the connections it stores (or serves, with shared kernels)."""

    core: int
    x: int
    y: int
    layer: int
    name: str
    first: int
    count: int
    n_in: int
    memory: dict = field(default_factory=dict)   # bits by kind, see core_memory
    synapses: int = 0
    tile: dict | None = None
    in_group: tuple | None = None   # input neurons (dense) or channels (conv) [lo, hi)
    soma: bool = True               # holds the neurons' state (group 0); else partial sums


@dataclass(frozen=True)
class Placement:
    mesh: tuple[int, int]
    cores: tuple[CoreSlice, ...]
    layer_cores: tuple[tuple[int, ...], ...]     # core ids per layer
    spec: CoreSpec
    recurrent: tuple[int, ...] = ()              # per layer: its recurrent axons (0: none)

    def recurrent_axons(self, layer: int) -> int:
        """Axons of a layer fed by its own spikes (the last of its fan-in; 0: feed-forward)."""
        return self.recurrent[layer] if self.recurrent else 0

    def cores_of(self, layer: int) -> list[CoreSlice]:
        return [self.cores[c] for c in self.layer_cores[layer]]

    def neurons_of(self, layer: int) -> int:
        """Neurons of a layer (counted on the cores holding their state)."""
        return sum(c.count for c in self.cores_of(layer) if c.soma)

    def fan_in_of(self, layer: int) -> int:
        """Input axons of a layer over all its input groups (dense layers)."""
        return max((c.in_group[1] if c.in_group else c.n_in) for c in self.cores_of(layer))


def _row_bits(entries: int, width: int, word: int) -> int:
    """A row of ``entries`` values of ``width`` bits, padded to whole words."""
    return math.ceil(entries * width / word) * word if entries else 0


def core_memory(n_in: int, count: int, widths: Widths, spec: CoreSpec, *, classes: int,
                accumulators: bool, feedback: bool, transposed_copy: bool, traces: bool,
                error_registers: bool, destinations: int, mesh_cores: int,
                stored_weights: int | None = None, bias: bool = False,
                traced_axons: int | None = None) -> dict:
    """Bits a core needs for ``count`` neurons with ``n_in`` input axons, by kind.

    ``sram_*`` entries live in the synapse SRAM; the others are registers and tables. Dense
    rows hold ``count`` weights per axon; ``stored_weights`` (conv tiles) replaces that with
    the number of weights stored, packed into whole words.
    """
    w = spec.word_bits
    address_bits = max(1, math.ceil(math.log2(max(2, mesh_cores))))
    axon_bits = max(1, math.ceil(math.log2(max(2, spec.axons))))
    if stored_weights is None:
        weights = n_in * _row_bits(count, widths.weight, w)
        unpadded = n_in * count * widths.weight
    else:
        weights = _row_bits(stored_weights, widths.weight, w)
        unpadded = stored_weights * widths.weight
    mem = {
        "sram_weights": weights,
        "sram_weights_unpadded": unpadded,
        "sram_accumulators": n_in * _row_bits(count, widths.accumulator, w) if accumulators else 0,
        "sram_feedback": classes * _row_bits(count, widths.weight, w) if feedback else 0,
        "sram_transposed_copy": count * _row_bits(n_in, widths.weight, w) if transposed_copy else 0,
        # membrane, error register and (a layer with biases) a bias register per neuron
        "neuron_state": count * (widths.membrane + (widths.error if error_registers else 0)
                                 + (widths.bias if bias else 0)),
        "trace_registers": (n_in if traced_axons is None else traced_axons) * widths.trace
        if traces else 0,
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


@dataclass(frozen=True)
class MapLayer:
    """A synaptic layer as the mapper sees it, pooling and flatten in front folded in.

    Dense: ``n_in`` presynaptic neurons, all connected. Conv: presynaptic map ``in_shape``
    (C, H, W) and the effective kernel, stride and padding over it."""

    name: str
    kind: str
    n_in: int
    n_out: int
    in_shape: tuple = ()
    out_shape: tuple = ()
    kernel: tuple = (1, 1)
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    recurrent: int = 0    # axons of a recurrent layer's own spikes, last in n_in (its n_out)


def synaptic_layers(layers) -> list[MapLayer]:
    """Fold Pool2d and Flatten into the next synaptic layer (see the module docstring)."""
    out, pool = [], None
    for layer in layers:
        if layer.kind == "pool2d":
            if layer.kernel != layer.stride or layer.padding != (0, 0) or pool is not None:
                raise DoesNotFitError(
                    f"layer '{layer.name}': only pooling with stride = kernel and no padding, "
                    "one pooling before a synaptic layer, can be folded onto the chip")
            pool = layer
            continue
        if layer.kind == "flatten":
            continue
        pre_shape = pool.in_shape if pool is not None else getattr(layer, "in_shape", None)
        if layer.kind == "dense":
            n_in = math.prod(pool.in_shape) if pool is not None else layer.n_in
            own = layer.n_out if layer.recurrent else 0
            out.append(MapLayer(layer.name, "dense", n_in + own, layer.n_out, recurrent=own))
        else:
            p = pool.kernel if pool is not None else (1, 1)
            out.append(MapLayer(
                layer.name, "conv2d", math.prod(pre_shape), layer.n_out, tuple(pre_shape),
                layer.out_shape, (layer.kernel[0] * p[0], layer.kernel[1] * p[1]),
                (layer.stride[0] * p[0], layer.stride[1] * p[1]),
                (layer.padding[0] * p[0], layer.padding[1] * p[1])))
        pool = None
    if pool is not None:
        raise DoesNotFitError(f"layer '{pool.name}': pooling after the last synaptic layer "
                              "has no neurons to run on; end the network with a synaptic layer")
    return out


def _window(lo: int, hi: int, stride: int, pad: int, kernel: int, size: int) -> tuple[int, int]:
    """Input index range [a, b) that outputs [lo, hi) read."""
    return max(0, lo * stride - pad), min(size, (hi - 1) * stride - pad + kernel)


def _taps(lo: int, hi: int, stride: int, pad: int, kernel: int, size: int) -> int:
    """Sum over outputs in [lo, hi) of the kernel taps that fall inside the input."""
    return sum(min(size, o * stride - pad + kernel) - max(0, o * stride - pad)
               for o in range(lo, hi))


def _conv_tile(ml: MapLayer, channels, rows, cols, in_channels) -> dict:
    _, h, w = ml.in_shape
    (kh, kw), (sh, sw), (ph, pw) = ml.kernel, ml.stride, ml.padding
    r = _window(*rows, sh, ph, kh, h)
    q = _window(*cols, sw, pw, kw, w)
    g, gi = channels[1] - channels[0], in_channels[1] - in_channels[0]
    return {"channels": channels, "rows": rows, "cols": cols, "in_group": in_channels,
            "soma": in_channels[0] == 0,
            "neurons": g * (rows[1] - rows[0]) * (cols[1] - cols[0]),
            "axons": gi * (r[1] - r[0]) * (q[1] - q[0]),
            "in_rows": r, "in_cols": q,
            "synapses": g * gi * _taps(*rows, sh, ph, kh, h) * _taps(*cols, sw, pw, kw, w),
            "kernel_weights": g * gi * kh * kw}


def _largest_tile(ml: MapLayer, gi: int, g: int, th: int, tw: int) -> dict:
    """Upper bounds over a plan's tiles: an interior tile, its window unclipped by padding."""
    _, h, w = ml.in_shape
    (kh, kw), (sh, sw) = ml.kernel, ml.stride
    return {"neurons": g * th * tw,
            "axons": gi * min(h, (th - 1) * sh + kh) * min(w, (tw - 1) * sw + kw),
            "synapses": g * gi * th * tw * kh * kw, "kernel_weights": g * gi * kh * kw}


def _sizes(n: int) -> list[int]:
    return sorted({n, *(2 ** i for i in range(n.bit_length()) if 2 ** i < n)}, reverse=True)


def _conv_plans(ml: MapLayer):
    """Candidate tilings: (input channel group, channel group, tile rows, tile cols)."""
    co, ho, wo = ml.out_shape
    for gi in _sizes(ml.in_shape[0]):
        for g in _sizes(co):
            for th in _sizes(ho):
                for tw in _sizes(wo):
                    yield gi, g, th, tw


def _tiles(ml: MapLayer, gi: int, g: int, th: int, tw: int) -> list[dict]:
    ci, (co, ho, wo) = ml.in_shape[0], ml.out_shape
    return [_conv_tile(ml, (c, min(co, c + g)), (r, min(ho, r + th)), (q, min(wo, q + tw)),
                       (a, min(ci, a + gi)))
            for c in range(0, co, g) for r in range(0, ho, th) for q in range(0, wo, tw)
            for a in range(0, ci, gi)]


def place_network(layers, widths: Widths, spec: CoreSpec, mesh: tuple[int, int], *,
                  classes: int, accumulators: bool = False, feedback: bool = False,
                  transposed_copy: bool = False, traces: bool = False,
                  error_registers: bool = False, input_trace: bool = False,
                  conv_weights: str = "shared", split_fan_in: bool = True,
                  biased: frozenset = frozenset()) -> Placement:
    """Split and place a network's layers on the mesh; raises DoesNotFitError.

    Hidden layers get feedback memory (broadcast); layers above the first get a transposed
    copy (``backward: copy``); every core but the first layer's holds axon traces, the first
    layer's only with ``input_trace``. Conv layers use ``conv_weights`` (shared | unrolled).
    Layers named in ``biased`` hold a bias register per neuron.
    """
    mapped = synaptic_layers(layers)
    problems, plans = [], []
    mesh_cores = mesh[0] * mesh[1]
    last = len(mapped) - 1

    def memory(i, n_in, count, destinations=0, stored=None, window=None):
        # the first layer's input axons hold traces only with input_trace; its recurrent
        # axons (the last of its fan-in, in the core's input window) always do
        lo, hi = window or (0, mapped[i].n_in)
        own = max(0, hi - max(lo, mapped[i].n_in - mapped[i].recurrent))
        return core_memory(n_in, count, widths, spec, classes=classes,
                           accumulators=accumulators, feedback=feedback and i < last,
                           transposed_copy=transposed_copy and i > 0,
                           traces=traces and (i > 0 or input_trace or own > 0),
                           error_registers=error_registers, destinations=destinations,
                           mesh_cores=mesh_cores, stored_weights=stored,
                           bias=mapped[i].name in biased,
                           traced_axons=None if i > 0 or input_trace else own)

    def stored(tile):
        return tile["kernel_weights"] if conv_weights == "shared" else tile["synapses"]

    for i, ml in enumerate(mapped):
        if ml.kind == "dense":
            groups = math.ceil(ml.n_in / spec.axons) if split_fan_in else 1
            group = math.ceil(ml.n_in / groups)
            if group > spec.axons:
                problems.append(f"layer '{ml.name}' (fan_in_fits_axons): needs {ml.n_in} input "
                                f"axons on each of its cores, a core has {spec.axons} "
                                "(chip.core.axons)")
                plans.append(None)
                continue
            one = memory(i, group, 1)["sram_used"]
            if one > spec.sram_bits:
                problems.append(f"layer '{ml.name}' (neuron_fits_memory): one neuron's synapse "
                                f"rows need {one} bits of synapse memory, a core has "
                                f"{spec.sram_bits} ({spec.sram_bits // 8192} KiB, "
                                "chip.core.synapse_memory_kib)")
                plans.append(None)
                continue
            per_core = min(spec.neurons, ml.n_out)
            while per_core > 1 and memory(i, group, per_core)["sram_used"] > spec.sram_bits:
                per_core -= 1
            n_cores = math.ceil(ml.n_out / per_core)
            size = math.ceil(ml.n_out / n_cores)
            plans.append([{"first": f, "neurons": min(size, ml.n_out - f),
                           "axons": min(group, ml.n_in - a),
                           "synapses": min(group, ml.n_in - a) * min(size, ml.n_out - f),
                           "in_group": (a, min(ml.n_in, a + group)) if groups > 1 else None,
                           "soma": a == 0}
                          for f in range(0, ml.n_out, size) for a in range(0, ml.n_in, group)])
            continue
        best, smallest = None, None
        for gi, g, th, tw in _conv_plans(ml):
            if gi < ml.in_shape[0] and not split_fan_in:
                continue
            t = _largest_tile(ml, gi, g, th, tw)
            sram = memory(i, t["axons"], t["neurons"], 0, stored(t))["sram_used"]
            if smallest is None or (t["axons"], sram) < smallest:
                smallest = (t["axons"], sram)
            if t["axons"] <= spec.axons and t["neurons"] <= spec.neurons \
                    and sram <= spec.sram_bits:
                co, ho, wo = ml.out_shape
                n = (math.ceil(ml.in_shape[0] / gi) * math.ceil(co / g) * math.ceil(ho / th)
                     * math.ceil(wo / tw))
                key = (n, n * sram)
                if best is None or key < best[0]:
                    best = (key, (gi, g, th, tw))
        if best is not None:
            best = (best[0], _tiles(ml, *best[1]))
        if best is None:
            axons, sram = smallest
            rule = ("fan_in_fits_axons" if axons > spec.axons else "neuron_fits_memory")
            problems.append(
                f"layer '{ml.name}' ({rule}): its smallest tile (one output channel and "
                f"position, one input channel) needs {axons} input axons and {sram} bits of "
                f"synapse memory, a core has {spec.axons} axons (chip.core.axons) and "
                f"{spec.sram_bits} bits (chip.core.synapse_memory_kib)")
            plans.append(None)
            continue
        plans.append(best[1])
    needed = sum(len(p) for p in plans if p)
    if not problems and needed > mesh_cores:
        per_layer = ", ".join(f"'{ml.name}': {len(p)}" for ml, p in zip(mapped, plans))
        problems.append(f"network (cores_fit_mesh): needs {needed} cores ({per_layer}), the "
                        f"chip has {mesh_cores} (chip.mesh {list(mesh)})")
    if problems:
        raise DoesNotFitError("the network does not fit the chip:\n"
                              + "\n".join(f"  {p}" for p in problems))
    cores, layer_cores, k = [], [], 0
    for i, (ml, tiles) in enumerate(zip(mapped, plans)):
        ids = []
        # a recurrent layer's spikes also go back to its own cores
        destinations = (len(plans[i + 1]) if i < last else 0) + (len(tiles) if ml.recurrent else 0)
        for t in tiles:
            x, y = snake(k, mesh)
            conv = ml.kind == "conv2d"
            mem = memory(i, t["axons"], t["neurons"], destinations, stored(t) if conv else None,
                         None if conv else t["in_group"])
            tile = ({key: t[key] for key in ("channels", "rows", "cols", "in_rows", "in_cols")}
                    if conv else None)
            cores.append(CoreSlice(k, x, y, i, ml.name, -1 if conv else t["first"],
                                   t["neurons"], t["axons"], mem, t["synapses"], tile,
                                   t["in_group"], t["soma"]))
            ids.append(k)
            k += 1
        layer_cores.append(tuple(ids))
    return Placement(tuple(mesh), tuple(cores), tuple(layer_cores), spec,
                     tuple(ml.recurrent for ml in mapped))
