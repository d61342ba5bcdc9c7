"""Named chip presets: values for the chip section that the config's own keys override.

loihi: one Loihi chip as Davies et al. (IEEE Micro 2018) describe it: 128 neuromorphic cores
  (modelled as a 16 x 8 mesh), each with 1024 neuron compartments, 4096 fan-in axons and
  128 KB of synaptic memory; the loihi2018 energy table.
loihi_nahuku32: 32 Loihi chips (Intel's Nahuku board, 4096 cores) modelled as one 64 x 64
  mesh; chip-to-chip links are priced and timed as ordinary hops (an optimistic simplification).
"""
LOIHI_CORE = {"neurons": 1024, "axons": 4096, "synapse_memory_kib": 128, "word_bits": 64}

PRESETS = {
    "default": {},
    "loihi": {"mesh": [16, 8], "core": LOIHI_CORE, "energy": "loihi2018"},
    "loihi_nahuku32": {"mesh": [64, 64], "core": LOIHI_CORE, "energy": "loihi2018"},
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
