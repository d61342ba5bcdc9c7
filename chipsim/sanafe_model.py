"""A chipsim network run on SANA-FE's calibrated Loihi model, for the cross-check of the cost
model (``bench/sanafe_crosscheck.py``; the sanafe extra: ``pip install sanafe``).

The same network, the same integers, the same placement and the same input spikes:

- Weights, thresholds and biases are the chip's integers, in membrane LSBs (in the weights'
  LSBs where those are finer), so SANA-FE's double arithmetic is exact on them and its 1/64
  potential quantization does nothing.
- Neurons: SANA-FE's Loihi LIF fires on v > threshold, hard reset to 0 or soft (subtract).
  chipsim's ``>`` maps directly; ``>=`` with reset to zero becomes ``> threshold - 1`` (exact
  on integers); ``>=`` with subtraction and snnTorch's next-step reset have no equivalent and
  are refused. Leak: chipsim's lambda as SANA-FE's leak_decay (exact for integrate-and-fire,
  lambda = 1; with a leak SANA-FE truncates toward zero where chipsim rounds: spikes may then
  differ). A non-spiking read-out becomes a neuron that never fires and keeps no potential
  (leak_decay 0).
- Delivery: SANA-FE hands a spike to the next layer one step after it is sent, chipsim in the
  same step; so synaptic layer l (1 = the first) fires at step t + l in SANA-FE what it fires
  at t on chipsim. ``run_sanafe`` returns SANA-FE's spikes shifted back by l steps. Inputs should
  end with as many silent steps as the network has synaptic layers, so every spike of either
  simulator falls inside the run.
- Placement: each chipsim core holds the same neurons on a SANA-FE core: core (x, y) of the
  16 x 8 mesh goes to tile (x // 2, y // 2) of SANA-FE's 8 x 4 tiles of 2 x 2 cores (what
  chip.tile [2, 2] of the Loihi presets counts hops and tiles on).
- Inputs: chipsim's inputs come from the host; in SANA-FE they are an input group (its
  zero-cost 'input' soma units) on a free core of the first layer's first tile, whose spike
  messages cost what chipsim's input packets cost under sanafe_loihi.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chipsim.chip.formats import LAMBDA_FRAC, RESET_NEXT_STEP, RESET_SUBTRACT, RESET_ZERO
from chipsim.chip.reference import bias_current, layer_weights
from chipsim.errors import ConfigError
from chipsim.report.costs import core_neurons, layer_shapes

TILES = (8, 4)             # SANA-FE's Loihi: 8 x 4 tiles of 4 cores (a 16 x 8 core mesh)
INPUT_GROUP = "input"


@dataclass
class SanafeRun:
    """SANA-FE's results for one run of ``steps`` steps."""

    spikes: list            # per synaptic layer: (steps, neurons) uint8, in chipsim's steps
    input_spikes: int       # spikes of the input group (SANA-FE counts them as fired)
    perf: dict              # SANA-FE's per-step trace: energies (J), sim_time (s), counts
    energy_j: dict          # SANA-FE's totals (J): synapse, dendrite, soma, network, total
    packets: int            # messages sent, the input group's included
    tiles_used: int
    input_core: int         # where the input group sits (index in SANA-FE's core list)
    timing_model: str


def _layers(sim) -> list[dict]:
    """Per synaptic layer what SANA-FE needs, in its units; ConfigError for what it cannot
    express."""
    chip = sim.chip
    m = chip.memories
    out = []
    for l, name in enumerate(chip.names):
        def refuse(what):
            raise ConfigError(f"layer '{name}': {what}; the SANA-FE cross-check takes dense and "
                              "unpadded, unpooled conv layers with neurons that fire on u > "
                              "threshold (or u >= threshold with reset to zero)")
        if int(m.pool[l]) != 1:
            refuse("pooling in front of it")
        if m.recurrent[l]:
            refuse("it is recurrent (this cross-check builds feed-forward layers)")
        if m.conv[l] and (int(m.pad_h[l]) or int(m.pad_w[l])):
            refuse("zero padding")
        ds = int(m.delivery_shift[l])
        finer = 1 << max(ds, 0)       # SANA-FE's unit: the membrane LSB / finer
        w = layer_weights(m, l).astype(np.float64) * (finer / 2.0 ** ds)
        layer = {"name": name, "conv": bool(m.conv[l]), "n": int(m.n_out[l]),
                 "bias": bias_current(m, l).astype(np.float64) * finer}
        if layer["conv"]:             # (out, in, kh, kw) -> SANA-FE's [ky][kx][in][out]
            layer.update(weights=w.transpose(2, 3, 1, 0), stride=(int(m.stride_h[l]),
                         int(m.stride_w[l])), in_shape=(int(m.pre_c[l]), int(m.pre_h[l]),
                                                        int(m.pre_w[l])))
        else:                         # (out, in) -> SANA-FE's (in, out)
            layer["weights"] = w.T
        threshold = int(m.threshold[l]) * finer
        if not m.spiking[l]:
            attributes = {"threshold": 1e300, "reset_mode": "hard", "leak_decay": 0.0}
        else:
            mode = int(m.reset_mode[l])
            if mode == RESET_NEXT_STEP:
                refuse("reset at the next step (snnTorch's Leaky)")
            if not m.firing_gt[l] and mode == RESET_SUBTRACT:
                refuse("firing on u >= threshold with reset by subtraction")
            attributes = {"threshold": float(threshold if m.firing_gt[l] else threshold - 1),
                          "reset_mode": "soft" if mode == RESET_SUBTRACT else "hard",
                          "leak_decay": int(m.lam[l]) / 2.0 ** LAMBDA_FRAC}
            assert mode in (RESET_SUBTRACT, RESET_ZERO)
        layer["attributes"] = attributes
        out.append(layer)
    return out


def sanafe_core(x: int, y: int) -> int:
    """Index in SANA-FE's core list of chipsim's core at mesh position (x, y)."""
    tile = (x // 2) * TILES[1] + (y // 2)   # SANA-FE numbers tiles down the columns
    return tile * 4 + (x % 2) + 2 * (y % 2)


def tile_position(core: int) -> tuple[int, int]:
    """(x, y) of the tile of SANA-FE's core ``core``."""
    return divmod(core // 4, TILES[1])


def run_sanafe(sim, x: np.ndarray, *, timing_model: str = "detailed") -> SanafeRun:
    """Run ``sim``'s network (placed and quantized) in SANA-FE on input spikes ``x``
    (steps, inputs), one continuous run (no reset), with SANA-FE's Loihi architecture."""
    try:
        import sanafe
    except ImportError:
        raise ConfigError("the SANA-FE cross-check needs SANA-FE: pip install 'chipsim[sanafe]' "
                          "(sanafe 2.2.9)") from None

    x = np.asarray(x) != 0
    steps, n_in = x.shape
    layers = _layers(sim)
    placement = sim.placement
    mesh = placement.mesh
    if mesh[0] > 2 * TILES[0] or mesh[1] > 2 * TILES[1]:
        raise ConfigError(f"chip.mesh {list(mesh)}: the SANA-FE cross-check needs a mesh within "
                          "Loihi's 16 x 8 cores (chip.preset: sanafe_loihi)")
    if not all(c.soma for c in placement.cores):
        raise ConfigError("the network's placement splits a fan-in over cores (partial sums), "
                          "which SANA-FE's Loihi does not model; give the cores more axons")
    if n_in > 1024:
        raise ConfigError(f"{n_in} inputs: SANA-FE's Loihi core has 1024 input units")
    arch = sanafe.load_loihi()
    cores = arch.cores()
    net = sanafe.Network()
    inputs = net.create_neuron_group(INPUT_GROUP, n_in)
    for i, neuron in enumerate(inputs):
        neuron.set_attributes(soma_hw_name=f"loihi_inputs[{i}]",
                              model_attributes={"spikes": [bool(v) for v in x[:, i]]})
    groups = []
    for layer in layers:
        group = net.create_neuron_group(layer["name"], layer["n"], log_spikes=True,
                                        model_attributes=layer["attributes"])
        for i in np.flatnonzero(layer["bias"]):
            group[int(i)].set_attributes(model_attributes={"bias": float(layer["bias"][i])})
        pre = groups[-1] if groups else inputs
        if layer["conv"]:
            kh, kw, _, c_out = layer["weights"].shape
            c, h, w = layer["in_shape"]
            pre.connect_neurons_conv2d(group, {"w": layer["weights"].ravel()}, w, h, c, kw, kh,
                                       c_out, layer["stride"][1], layer["stride"][0])
        else:
            pre.connect_neurons_dense(group, {"w": layer["weights"].ravel()})
        groups.append(group)
    shapes, _ = layer_shapes(sim.chip.memories)
    used = set()
    for c in placement.cores:
        index = sanafe_core(c.x, c.y)
        used.add(index)
        for i in core_neurons(c, shapes[c.layer]):
            groups[c.layer][int(i)].map_to_core(cores[index])
    c0 = placement.cores_of(0)[0]
    first = sanafe_core(c0.x, c0.y)
    free = [k for k in range(len(cores)) if k not in used]
    home = min(free, key=lambda k: (k // 4 != first // 4, k))
    for neuron in inputs:
        neuron.map_to_core(cores[home])
    used.add(home)
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    result = chip.sim(steps, timing_model=timing_model, spike_trace=True, perf_trace=True)
    spikes = [np.zeros((steps, layer["n"]), np.uint8) for layer in layers]
    index = {layer["name"]: l for l, layer in enumerate(layers)}
    for t, fired in enumerate(result["spike_trace"]):
        for neuron in fired:
            l = index.get(neuron.group_name)
            if l is not None and t - (l + 1) >= 0:
                spikes[l][t - (l + 1), neuron.neuron_offset] = 1
            elif l is not None:
                raise AssertionError("SANA-FE: a spike before its input could arrive")
    return SanafeRun(spikes=spikes, input_spikes=int(x.sum()),
                     perf={k: np.asarray(v) for k, v in result["perf_trace"].items()},
                     energy_j=dict(result["energy"]), packets=int(result["packets_sent"]),
                     tiles_used=len({k // 4 for k in used}), input_core=home,
                     timing_model=timing_model)
