"""Cycles, energy and memory from counted events: the chip's cost model.

The simulator counts events per layer (and spikes, neuron activity and weight writes per
neuron); with the placement those become exact per-core counts, priced by a cycle table and
an energy table (``energy_tables``). Nothing here simulates; everything is count x cost.

Per core c holding neurons [a, a + k) of layer l (n neurons, n_in inputs):
  synaptic_ops = rows read by layer l x k      synapse_rows_read = rows read by layer l
  (the spikes, or input events, inside the core's input window; a recurrent layer adds the
  rows its own spikes of the last step read, which every core of the layer holds)
  active / inactive_neuron_updates, neuron_spikes from the per-neuron counts of the slice
  trace_updates = the layer's input-trace updates (every core of a layer keeps all of them)
  error_reads, modulator_ops, accumulator_reads: the layer's count x k / n (uniform over
      neurons), except with backward: copy, where backprop reads become nonzero errors x n_in
      (split over cores in proportion to k: the one estimate here)
  weight_updates, accumulator_updates from the per-neuron counts (x 2 with a transposed copy:
      both copies are written)
  input / spike / error packets from the router (``chip.router``); hops are counted at the
      core that sends the packet
  static_core_steps = time steps simulated

Time-step latency: max over cores of the core's mean cycles per step, plus routing (the
busiest link's mean packets per step x cycles per packet, plus the longest route's hops x
cycles per hop) plus the barrier (which may depend on the router tiles used, as Loihi's
time-step synchronisation does). Using means assumes each core's load is spread evenly over
the steps; the true mean of per-step maxima can only be higher.
"""
from __future__ import annotations

import numpy as np

from chipsim.chip import counters as ev
from chipsim.chip.router import error_traffic, partial_sum_traffic, spike_traffic
from chipsim.errors import ConfigError
from chipsim.report.energy_tables import (OPTIONAL_IN_USER_TABLES, PRESETS, PRICED_NAMES,
                                         user_table, width_dependent)

PHASES = {
    "spike_delivery": ("synapse_rows_read", "synaptic_ops", "input_packets", "spike_packets",
                       "partial_sum_packets"),
    "neuron_update": ("active_neuron_updates", "inactive_neuron_updates", "neuron_spikes"),
    "trace_update": ("trace_updates",),
    "learning": ("error_packets", "error_reads", "modulator_ops", "weight_updates",
                 "accumulator_updates", "gradient_macs", "accumulator_reads"),
}


def energy_tables(chip_cfg) -> dict[str, dict]:
    """Every preset, plus the user's table when chip.energy is a mapping (name 'user')."""
    tables = {name: make(chip_cfg.bits, chip_cfg.core.synapse_memory_kib)
              for name, make in PRESETS.items()}
    for table in tables.values():
        table["static_core_steps"] = {"pJ": chip_cfg.static_pj_per_core_step,
                                      "source": "chip.static_pj_per_core_step"}
    if isinstance(chip_cfg.energy, dict):
        missing = [k for k in PRICED_NAMES
                   if k not in chip_cfg.energy and k not in OPTIONAL_IN_USER_TABLES]
        unknown = [k for k in chip_cfg.energy if k not in PRICED_NAMES]
        if missing or unknown:
            raise ConfigError(
                "chip.energy: a user table needs pJ for every event"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + f" (events: {', '.join(PRICED_NAMES)})")
        tables["user"] = user_table(chip_cfg.energy)
    return tables


def primary_table(chip_cfg) -> str:
    return "user" if isinstance(chip_cfg.energy, dict) else chip_cfg.energy


def core_neurons(core, out_shape) -> np.ndarray:
    """Indices (within its layer) of the neurons a core holds."""
    if core.tile is None:
        return np.arange(core.first, core.first + core.count)
    _, ho, wo = out_shape
    c, y, x = (np.arange(*core.tile[k]) for k in ("channels", "rows", "cols"))
    return ((c[:, None, None] * ho + y[None, :, None]) * wo + x[None, None, :]).ravel()


def core_window(core, in_shape) -> np.ndarray | None:
    """Indices of the presynaptic neurons a core's axons listen to (None: all of them)."""
    if core.tile is None:
        return None if core.in_group is None else np.arange(*core.in_group)
    _, h, w = in_shape
    c, y, x = (np.arange(*r) for r in (core.in_group, core.tile["in_rows"], core.tile["in_cols"]))
    return ((c[:, None, None] * h + y[None, :, None]) * w + x[None, None, :]).ravel()


def core_events(placement, counts, neuron_counts, n_off, *, backward_copy: bool,
                broadcast: bool, learning: bool, shapes: list,
                input_shape: tuple | None = None, tile=(1, 1)) -> tuple[dict, dict]:
    """Per-core event counts {core: {event: count}} and the router summaries.

    Exact from per-neuron counts: neuron updates, spikes and the spike packets between cores
    (each core's neurons against the receiving core's input window), dense rows read, dense
    weight writes. Shared in proportion (an estimate; exact without split fan-in and for a
    layer on one core): conv rows, taps and learning work by the synapses a core serves,
    learning events of a split fan-in by the input group. ``shapes``: output shape of every
    synaptic layer ((n,) dense, (C, H, W) conv). ``input_shape``: the inputs' ((n,) or
    (C, H, W)), whose events ``neuron_counts`` holds after the last neuron (spikes row): each
    first-layer core then receives exactly the input events inside its window; None (a
    pooled input): its rows read in proportion to the synapses. ``tile``: cores per router
    (chip.tile)."""
    layers = len(placement.layer_cores)
    n_of = [placement.neurons_of(l) for l in range(layers)]
    steps_of = [int(counts[l, ev.NEURON_UPDATES]) // n_of[l] for l in range(layers)]
    synapses = [sum(c.synapses for c in placement.cores_of(l)) for l in range(layers)]
    kinds = [placement.cores_of(l)[0].tile is not None for l in range(layers)]
    held = {c.core: core_neurons(c, shapes[c.layer]) for c in placement.cores}

    def per_neuron(layer, index, column):
        return int(neuron_counts[column, n_off[layer] + index].sum())

    def own_axons(core):
        """A dense core's (window of axons fed from below, or None: all of them; the share
        of its layer's recurrent axons it holds). (Conv layers are never recurrent.)"""
        window = None if core.in_group is None else np.arange(*core.in_group)
        n_rec = placement.recurrent_axons(core.layer)
        if not n_rec or window is None:
            return window, 1.0 if n_rec else 0.0
        below = placement.fan_in_of(core.layer) - n_rec
        return window[window < below], np.count_nonzero(window >= below) / n_rec

    def sent(src, dst):
        window = core_window(dst, shapes[src.layer])
        if window is not None and dst.layer == src.layer:  # recurrent axons: the last n
            window = window - (placement.fan_in_of(dst.layer) - n_of[dst.layer])
        mine = held[src.core] if window is None else np.intersect1d(held[src.core], window)
        return per_neuron(src.layer, mine, ev.N_SPIKES)

    inputs = neuron_counts[ev.N_SPIKES, n_off[layers - 1] + n_of[layers - 1]:]

    def inputs_received(core):
        window = core_window(core, input_shape) if core.tile else own_axons(core)[0]
        return int((inputs if window is None else inputs[window]).sum())

    readout_n = n_of[layers - 1]
    learning_steps = int(counts[layers - 1, ev.MODULATOR_OPS]) // readout_n if learning else 0
    spike_t = spike_traffic(placement, sent, tile)
    partial_t = partial_sum_traffic(placement, lambda l: steps_of[l], tile)
    error_t = (error_traffic(placement, counts, broadcast, learning_steps, tile) if learning
               else None)
    traffics = [t for t in (spike_t, partial_t, error_t) if t is not None]
    out = {}
    for c in placement.cores:
        l, k, n, conv = c.layer, c.count, n_of[c.layer], kinds[c.layer]
        share = c.synapses / synapses[l] if synapses[l] else 0.0  # of the layer's work
        window, recurrent_share = own_axons(c) if not conv else (None, 0.0)
        # the rows read by the layer's own spikes of the last step (counted by the chip; a
        # split fan-in's cores share them by their recurrent axons)
        recurrent = int(counts[l, ev.RECURRENT_ROWS_READ]) * recurrent_share
        if l == 0 and not conv and input_shape is not None:
            rows = inputs_received(c) + recurrent
            ops = rows * k
        elif conv or l == 0:  # conv rows: (input, tap) pairs landing on the map
            rows = int(counts[l, ev.SYNAPSE_ROWS_READ]) * share
            ops = int(counts[l, ev.SYNAPTIC_OPS]) * share
        else:
            rows = per_neuron(l - 1, np.arange(n_of[l - 1]) if window is None else window,
                              ev.N_SPIKES) + recurrent
            ops = rows * k
        own = held[c.core]
        active = per_neuron(l, own, ev.N_ACTIVE) if c.soma else 0
        copy = backward_copy and l > 0 and not broadcast
        if copy:  # (a recurrent layer's own rows are not read backwards)
            below = c.n_in - recurrent_share * placement.recurrent_axons(l)
            reads = float(counts[l, ev.BACKWARD_NONZERO_ERRORS]) * below * k / n
        else:
            reads = int(counts[l, ev.ERROR_READS]) * share
        if conv:
            writes = int(counts[l, ev.WEIGHT_UPDATES]) * share
            accumulated = int(counts[l, ev.ACCUMULATOR_UPDATES]) * share
        else:
            group = (c.in_group[1] - c.in_group[0]) / fan if c.in_group and (
                fan := placement.fan_in_of(l)) else 1.0
            writes = per_neuron(l, own, ev.N_WEIGHT_UPDATES) * group
            accumulated = per_neuron(l, own, ev.N_ACCUMULATOR_UPDATES) * group
        out[c.core] = {
            "synaptic_ops": ops,
            "synapse_rows_read": rows,
            "active_neuron_updates": active,
            "inactive_neuron_updates": steps_of[l] * k - active if c.soma else 0,
            "neuron_spikes": per_neuron(l, own, ev.N_SPIKES) if c.soma else 0,
            "input_packets": (0 if l else inputs_received(c) if input_shape is not None
                              else rows),
            "spike_packets": int(spike_t.packets.get(c.core, 0)),
            "error_packets": int(error_t.packets.get(c.core, 0)) if error_t else 0,
            "partial_sum_packets": int(partial_t.packets.get(c.core, 0)),
            "hops_ew": sum(t.hops.get((c.core, "hops_ew"), 0) for t in traffics),
            "hops_ns": sum(t.hops.get((c.core, "hops_ns"), 0) for t in traffics),
            "trace_updates": int(counts[l, ev.TRACE_UPDATES]) * c.n_in / max(1, placement.fan_in_of(l))
            if not conv else int(counts[l, ev.TRACE_UPDATES]) * share,
            "error_reads": reads,
            "modulator_ops": int(counts[l, ev.MODULATOR_OPS]) * k / n if c.soma else 0,
            "weight_updates": writes * (2 if copy else 1),
            "accumulator_updates": accumulated,
            "gradient_macs": int(counts[l, ev.GRADIENT_MACS]) * share,
            "accumulator_reads": int(counts[l, ev.ACCUMULATOR_READS]) * share,
            "static_core_steps": steps_of[l],
        }
    return out, _router_summary(spike_t, partial_t, error_t)


def _router_summary(spike_t, partial_t, error_t) -> dict:
    links = {}
    for t in (spike_t, partial_t, error_t):
        for link, n in (t.links.items() if t is not None else ()):
            links[link] = links.get(link, 0) + n
    return {"spikes": spike_t.summary(), "partial_sums": partial_t.summary(),
            "errors": error_t.summary() if error_t else None, "links": links}


def price(events: dict, tables: dict) -> dict:
    """{table: {total_pJ, by_event_pJ, by_core_pJ}} for per-core event counts."""
    out = {}
    totals = {e: sum(core[e] for core in events.values()) for e in PRICED_NAMES}
    for name, table in tables.items():
        by_event = {e: totals[e] * table[e]["pJ"] for e in PRICED_NAMES}
        by_core = {str(c): sum(ev_counts[e] * table[e]["pJ"] for e in PRICED_NAMES)
                   for c, ev_counts in events.items()}
        out[name] = {"total_pJ": sum(by_event.values()), "by_event_pJ": by_event,
                     "by_core_pJ": by_core}
    return out


def tiles_used(placement, tile=(1, 1)) -> int:
    """Router tiles (chip.tile cores each) holding at least one core of the placement."""
    return len({(c.x // tile[0], c.y // tile[1]) for c in placement.cores})


def barrier_cycles(cycle_cfg, tiles: int) -> float:
    """The end-of-step barrier (cycles): the pair of chip.cycles.barrier_by_tiles with the most
    tiles <= ``tiles`` (the tiles used), else chip.cycles.barrier."""
    fits = [(n, cycles) for n, cycles in cycle_cfg.barrier_by_tiles or () if n <= tiles]
    return float(max(fits)[1]) if fits else cycle_cfg.barrier


def cycles(events: dict, router: dict, cycle_cfg, steps: int, placement, tile=(1, 1)) -> dict:
    """Cycles per core and phase, and the mean time-step latency with its critical part."""
    table = cycle_cfg.events
    per_core = {str(c): {phase: sum(counts[e] * table.get(e, 0) for e in names)
                         for phase, names in PHASES.items()}
                for c, counts in events.items()}
    steps = max(steps, 1)
    core_step = {c: sum(p.values()) / steps for c, p in per_core.items()}
    critical = max(core_step, key=core_step.get)
    phase = max(per_core[critical], key=per_core[critical].get)
    busiest = max(router["links"].values()) if router["links"] else 0
    tx, ty = tile
    layers = len(placement.layer_cores)
    targets = [(l, l + 1) for l in range(layers - 1)] + [
        (l, l) for l in range(layers) if placement.recurrent_axons(l)]
    longest = max((abs(a.x // tx - b.x // tx) + abs(a.y // ty - b.y // ty)
                   for l, d in targets
                   for a in placement.cores_of(l) for b in placement.cores_of(d)), default=0)
    routing = busiest / steps * cycle_cfg.link_cycles_per_packet + longest * cycle_cfg.hop_cycles
    barrier = barrier_cycles(cycle_cfg, tiles_used(placement, tile))
    latency = core_step[critical] + routing + barrier
    seconds = latency / (cycle_cfg.clock_mhz * 1e6)
    return {"per_core_per_phase": per_core,
            "per_step": {"critical_core": int(critical), "critical_phase": phase,
                         "core_cycles": core_step[critical], "routing_cycles": routing,
                         "barrier_cycles": barrier, "latency_cycles": latency,
                         "latency_us": seconds * 1e6,
                         "realtime_factor": cycle_cfg.realtime_step_us * 1e-6 / seconds},
            "steps": steps}


def memory(placement, *, weight_bits: int, membrane_bits: int, error_bits: int,
           accumulator_bits: int, input_bits: int, n_inputs: int, timesteps: int,
           layers: list[tuple[int, int]] | None = None) -> dict:
    """Bits per core and in total, and OTTT's training memory against BPTT's as T grows.

    OTTT's training state (beyond the weights) is what the placement holds: neuron and error
    registers, trace registers, rule memories; it does not depend on T. BPTT, to train the
    same network, keeps every step's membrane (b_v) and spike (1 bit) of every neuron and the
    input payloads for the backward pass, plus a gradient accumulator per synapse and error
    registers: T x per-step state + constant.
    """
    per_core = []
    for c in placement.cores:
        row = {"core": c.core, "x": c.x, "y": c.y, "layer": c.name, "neurons": c.count,
               "axons": c.n_in, **c.memory}
        row["sram_utilization"] = c.memory["sram_used"] / c.memory["sram_available"]
        per_core.append(row)
    kinds = [k for k in placement.cores[0].memory if k != "sram_available"]
    total = {k: int(sum(c.memory[k] for c in placement.cores)) for k in kinds}
    total["sram_available"] = int(sum(c.memory["sram_available"] for c in placement.cores))
    ottt_state = sum(total[k] for k in ("neuron_state", "trace_registers", "sram_accumulators",
                                        "sram_feedback", "sram_transposed_copy"))
    weights = total["sram_weights_unpadded"]
    layers = layers or [(placement.fan_in_of(l), placement.neurons_of(l))
                        for l in range(len(placement.layer_cores))]
    per_step = sum(n * (membrane_bits + 1) for _, n in layers) + n_inputs * input_bits
    bptt_constant = (sum(n_in * n * accumulator_bits for n_in, n in layers)
                     + sum(n * error_bits for _, n in layers))
    rows = []
    for t in sorted({4, 8, 16, 32, 64, timesteps}):
        bptt = t * per_step + bptt_constant
        rows.append({"T": t, "ottt_state_bits": ottt_state, "bptt_state_bits": bptt,
                     "weights_bits": weights, "state_ratio": bptt / max(ottt_state, 1),
                     "total_ratio": (bptt + weights) / (ottt_state + weights)})
    return {"per_core": per_core, "total": total, "ottt_vs_bptt": rows,
            "bptt_bits_per_step": per_step, "bptt_constant_bits": bptt_constant}


def layer_shapes(m) -> tuple[list[tuple], tuple]:
    """(output shape of every synaptic layer: (n,) dense, (C, H, W) conv; the inputs' shape,
    (n,) or (C, H, W) before any pooling) of the chip's memories ``m``."""
    shapes = [(int(m.out_c[l]), int(m.out_h[l]), int(m.out_w[l])) if m.conv[l]
              else (int(m.out_c[l]),) for l in range(len(m.n_out))]
    inputs = ((int(m.pre_c[0]), int(m.pre_h[0]), int(m.pre_w[0])) if m.conv[0]
              else (int(m.n_pre[0]),))
    return shapes, inputs


def cost_section(placement, chip, chip_cfg, learning_cfg, *, train_samples: int,
                 test_samples: int, timesteps: int, n_inputs: int) -> dict:
    """The 'costs' part of report.json: placement, memory, and per phase of the run
    (training, inference) the per-core events, energy under every table, cycles, router."""
    m = chip.memories
    n_off = [int(v) for v in m.n_off]
    shapes, input_shape = layer_shapes(m)
    if int(m.pool[0]) != 1:  # the windows are in the pooled map: no exact input packets
        input_shape = None
    tables = energy_tables(chip_cfg)
    learning = chip.rule is not None
    broadcast = learning and learning_cfg.error == "broadcast"
    parts = {}
    for part, counts, ncounts, samples, learn in (
            ("training", chip.registers.counters, chip.registers.neuron_counts, train_samples,
             learning),
            ("inference", chip.inference_counts, chip.inference_neuron_counts, test_samples,
             False)):
        if samples == 0:
            continue
        events, router = core_events(placement, counts, ncounts, n_off,
                                     backward_copy=chip_cfg.backward == "copy",
                                     broadcast=broadcast, learning=learn, shapes=shapes,
                                     input_shape=input_shape, tile=chip_cfg.tile)
        steps = samples * timesteps
        energy = price(events, tables)
        for e in energy.values():
            e["per_sample_pJ"] = e["total_pJ"] / samples
        layer_n = [placement.neurons_of(l) for l in range(len(placement.layer_cores))]
        parts[part] = {
            "samples": samples, "steps": steps,
            "events_per_core": {str(c): v for c, v in events.items()},
            "events_total": {e: sum(v[e] for v in events.values()) for e in PRICED_NAMES},
            "energy": energy,
            "cycles": cycles(events, router, chip_cfg.cycles, steps, placement, chip_cfg.tile),
            "router": {k: router[k] for k in ("spikes", "partial_sums", "errors")},
            "spike_rates": {chip.names[l]: int(counts[l, ev.SPIKES]) / (layer_n[l] * steps)
                            for l in range(len(layer_n)) if m.spiking[l]},
        }
    bits = chip_cfg.bits
    f = chip.formats
    return {
        "energy_tables": tables,
        "energy_tables_width_dependent": {name: width_dependent(name) for name in tables},
        "primary_energy_table": primary_table(chip_cfg),
        "cycle_table": dict(chip_cfg.cycles.events),
        "placement": {"mesh": list(placement.mesh), "cores_used": len(placement.cores),
                      "cores_available": placement.mesh[0] * placement.mesh[1],
                      "layers": {chip.names[l]: list(ids)
                                 for l, ids in enumerate(placement.layer_cores)}},
        "memory": memory(placement, weight_bits=bits.weight, membrane_bits=bits.membrane,
                         error_bits=bits.error, accumulator_bits=bits.accumulator,
                         input_bits=f.input.bits, n_inputs=n_inputs, timesteps=timesteps),
        **parts,
    }
