"""Named chip presets: values for the chip section that the config's own keys override.

loihi: one Loihi chip as Davies et al. (IEEE Micro 2018) describe it: 128 neuromorphic cores
  (a 16 x 8 mesh of cores, a router for each 2 x 2 of them: 8 x 4 tiles), each with 1024
  neuron compartments, 4096 fan-in axons and 128 KB of synaptic memory; the loihi2018 energy
  table and Loihi's cycle table (below).
loihi_nahuku32: 32 Loihi chips (Intel's Nahuku board, 4096 cores) modelled as one 64 x 64
  mesh; chip-to-chip links are priced and timed as ordinary hops (an optimistic simplification).
sanafe_loihi: the loihi chip priced by SANA-FE's calibrated Loihi model (energy table
  sanafe_loihi, see chipsim.report.energy_tables).

Loihi's cycle table is SANA-FE's calibrated Loihi latency per event (sanafe 2.2.9,
sanafe/examples/loihi.yaml) at a 1 GHz clock, so one cycle is one nanosecond:
  synapse look-up 3.8 ns; message received 16 ns (input and spike packets; a row read is part
  of it); neuron access 6.0 ns every step, plus 3.7 ns when it updates; spike out 30 ns plus
  the message sent, 5.1 ns (one message per spike assumed); a north-south hop 6.5 ns (the
  slower direction: the longest route's latency); time-step synchronisation 0.6 / 1.0 / 1.4 /
  1.8 us when 1 / 2-3 / 4-28 / 29 or more tiles are used. Learning events have no Loihi
  figure: they keep the default table's times (1 cycle at 100 MHz = 10 ns).
"""
LOIHI_CORE = {"neurons": 1024, "axons": 4096, "synapse_memory_kib": 128, "word_bits": 64}

# learning events: chip.cycles' defaults (cycles at 100 MHz) as nanoseconds
_LEARNING_NS = {"error_packets": 10.0, "trace_updates": 10.0, "error_reads": 10.0,
                "modulator_ops": 10.0, "weight_updates": 20.0, "accumulator_updates": 20.0,
                "gradient_macs": 10.0, "accumulator_reads": 10.0}
LOIHI_CYCLES = {
    "clock_mhz": 1000.0,
    "synaptic_ops": 3.8, "synapse_rows_read": 0.0, "input_packets": 16.0, "spike_packets": 16.0,
    "partial_sum_packets": 16.0,  # a message received, as a spike's
    "active_neuron_updates": 6.0 + 3.7, "inactive_neuron_updates": 6.0,
    "neuron_spikes": 30.0 + 5.1,
    "hop_cycles": 6.5, "link_cycles_per_packet": 0.0,
    "barrier_by_tiles": [[1, 600.0], [2, 1000.0], [4, 1400.0], [29, 1800.0]],
    **_LEARNING_NS,
}
LOIHI = {"mesh": [16, 8], "tile": [2, 2], "core": LOIHI_CORE, "energy": "loihi2018",
         "cycles": LOIHI_CYCLES}

PRESETS = {
    "default": {},
    "loihi": LOIHI,
    "loihi_nahuku32": {**LOIHI, "mesh": [64, 64]},
    "sanafe_loihi": {**LOIHI, "energy": "sanafe_loihi"},
}


def merged(preset: dict, own: dict) -> dict:
    """The preset's values with the config's own keys on top (sections merged key by key)."""
    out = dict(preset)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out
