"""Expected costs of one inference from stated spike rates, without simulating.

For ``python -m chipsim map``: a mapped network (dense or convolutional) and assumed rates
(the probability that a neuron spikes in a step: ``input_rate`` for the inputs, ``rate`` for
every spiking layer) give each core's expected events per step:

  synapse_rows_read  = r_in x axons of the core          synaptic_ops = r_in x its synapses
  neuron updates     = its neurons (soma cores), active with probability 1 - (1 - r_in)^f,
                       f the layer's mean fan-in
  neuron_spikes      = r_out x its neurons (soma cores of spiking layers)
  spike packets      = r_out x the source neurons inside the core's input window, from each
                       core of the layer below (X-Y routed; hops counted at the sender)
  partial sums       = neurons of a partial core, every step (split fan-in)
  input packets      = rows read by first-layer cores;  static_core_steps = 1
times T steps, priced by the same tables and cycle model as simulated runs
(``chipsim.report.costs``). Measured activity is better: a dense network can be run with
``learning.rule: none`` for counted events.
"""
from __future__ import annotations

from chipsim.chip.router import partial_sum_traffic, spike_traffic
from chipsim.report.costs import cycles, energy_tables, price, primary_table, _router_summary
from chipsim.report.energy_tables import PRICED_NAMES


def _overlap(lo1, hi1, lo2, hi2) -> int:
    return max(0, min(hi1, hi2) - max(lo1, lo2))


def _flat_overlap(tile, shape, lo, hi) -> int:
    """Neurons of a conv tile (channels, rows, cols of a (C, H, W) map) whose flattened index
    lies in [lo, hi)."""
    _, h, w = shape
    count = 0
    for c in range(*tile["channels"]):
        for r in range(*tile["rows"]):
            base = (c * h + r) * w
            count += _overlap(base + tile["cols"][0], base + tile["cols"][1], lo, hi)
    return count


def received(src, dst, src_shape) -> int:
    """How many of src's neurons dst's axons listen to."""
    if src.tile is None:                       # dense source: neurons [first, first + count)
        if dst.tile is None:
            lo, hi = dst.in_group or (0, 1 << 62)
            return _overlap(src.first, src.first + src.count, lo, hi)
        window = {"channels": dst.in_group, "rows": dst.tile["in_rows"],
                  "cols": dst.tile["in_cols"]}
        return _flat_overlap(window, src_shape, src.first, src.first + src.count)
    if dst.tile is None:                       # conv source, dense (flattened) destination
        lo, hi = dst.in_group or (0, 1 << 62)
        return _flat_overlap(src.tile, src_shape, lo, hi)
    t, d = src.tile, dst.tile
    return (_overlap(*t["channels"], *dst.in_group) * _overlap(*t["rows"], *d["in_rows"])
            * _overlap(*t["cols"], *d["in_cols"]))


def estimate_inference(placement, mapped, *, input_rate: float, rate: float, timesteps: int,
                       chip_cfg, spiking: list[bool] | None = None) -> dict:
    """Per-core expected events of one inference, energy under every table, and cycles.
    ``spiking``: per synaptic layer whether it spikes (default: all)."""
    spiking = spiking or [True] * len(mapped)
    shapes = [ml.out_shape if ml.kind == "conv2d" else (ml.n_out,) for ml in mapped]
    fan_in = [sum(c.synapses for c in placement.cores_of(l)) / max(1, placement.neurons_of(l))
              for l in range(len(mapped))]
    spike_t = spike_traffic(placement, lambda s, d: rate * timesteps
                            * received(s, d, shapes[s.layer]), chip_cfg.tile)
    partial_t = partial_sum_traffic(placement, lambda l: timesteps, chip_cfg.tile)
    events = {}
    for c in placement.cores:
        r_in = input_rate if c.layer == 0 else rate
        active = 1.0 - (1.0 - r_in) ** fan_in[c.layer]
        neurons = c.count if c.soma else 0
        e = {name: 0.0 for name in PRICED_NAMES}
        e.update({
            "synapse_rows_read": r_in * c.n_in * timesteps,
            "synaptic_ops": r_in * c.synapses * timesteps,
            "active_neuron_updates": neurons * active * timesteps,
            "inactive_neuron_updates": neurons * (1.0 - active) * timesteps,
            "neuron_spikes": rate * neurons * timesteps if spiking[c.layer] else 0.0,
            "input_packets": r_in * c.n_in * timesteps if c.layer == 0 else 0.0,
            "spike_packets": spike_t.packets.get(c.core, 0.0),
            "partial_sum_packets": partial_t.packets.get(c.core, 0.0),
            "hops_ew": sum(t.hops.get((c.core, "hops_ew"), 0) for t in (spike_t, partial_t)),
            "hops_ns": sum(t.hops.get((c.core, "hops_ns"), 0) for t in (spike_t, partial_t)),
            "static_core_steps": timesteps,
        })
        events[c.core] = e
    tables = energy_tables(chip_cfg)
    router = _router_summary(spike_t, partial_t, None)
    energy = price(events, tables)
    for e in energy.values():
        e["per_sample_pJ"] = e["total_pJ"]
    return {"samples": 1, "steps": timesteps, "assumed_rates": {"input": input_rate,
                                                                 "spiking_layers": rate},
            "events_per_core": {str(c): v for c, v in events.items()},
            "events_total": {e: sum(v[e] for v in events.values()) for e in PRICED_NAMES},
            "energy": energy, "primary_energy_table": primary_table(chip_cfg),
            "energy_tables": tables,
            "cycles": cycles(events, router, chip_cfg.cycles, timesteps, placement, chip_cfg.tile),
            "router": {k: router[k] for k in ("spikes", "partial_sums")}}
