"""Energy per event (pJ) tables, each entry with where its number comes from.

The cost model prices the events in ``PRICED``; a table must give every one of them.

loihi2018: Davies et al., "Loihi: a neuromorphic manycore processor with on-chip learning",
  IEEE Micro 38(1), 2018, Table 1, pre-silicon figures at 0.75 V: 23.6 pJ per synaptic spike
  operation, 120 pJ per synaptic update (learning), 81 / 52 pJ per active / inactive neuron
  update, 1.7 pJ per spike delivered within a tile, 3.0 / 4.0 pJ per east-west / north-south
  hop. Events without a published figure are assumptions, marked as such.
horowitz45: Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
  45 nm at 0.9 V: integer add 0.03 pJ (8 bit) / 0.1 pJ (32 bit), multiply 0.2 pJ (8 bit) /
  3.1 pJ (32 bit), 64-bit SRAM read 10 / 20 / 100 pJ from 8 KB / 32 KB / 1 MB arrays. Each
  event is composed from these at the chip's widths (formulas in the entries); routing has
  no figure there and takes Loihi's.
"""
from __future__ import annotations

import math

PRICED = (
    ("synaptic_ops", "a synapse word read and accumulated (spike delivery)"),
    ("synapse_rows_read", "row address decode per active input axon"),
    ("active_neuron_updates", "update of a neuron with input or nonzero state"),
    ("inactive_neuron_updates", "update of an idle neuron"),
    ("input_packets", "an input event from the host arriving at a core"),
    ("spike_packets", "a spike packet delivered to a core"),
    ("error_packets", "an error value delivered to a core (learning)"),
    ("partial_sum_packets", "a partial dendritic sum sent to the soma core (split fan-in)"),
    ("hops_ew", "a packet crossing an east-west link"),
    ("hops_ns", "a packet crossing a north-south link"),
    ("trace_updates", "a trace register decay and increment"),
    ("error_reads", "a synapse or feedback word read to form a backward error"),
    ("modulator_ops", "a surrogate look-up and error x surrogate product"),
    ("weight_updates", "a synapse read-modify-write by the learning engine"),
    ("accumulator_updates", "an OTTT_A accumulator read-modify-write"),
    ("gradient_macs", "an error x presynaptic product summed into a conv kernel's change"),
    ("accumulator_reads", "an accumulator word scanned at the end of a batch"),
    ("static_core_steps", "static (leakage) energy of one core for one time step"),
)
PRICED_NAMES = tuple(name for name, _ in PRICED)


def loihi2018() -> dict[str, dict]:
    """{event: {"pJ": value, "source": text}}."""
    paper = "Davies et al. 2018, Table 1"
    return {
        "synaptic_ops": {"pJ": 23.6, "source": paper},
        "synapse_rows_read": {"pJ": 0.0, "source": "assumption: included in the synaptic op"},
        "active_neuron_updates": {"pJ": 81.0, "source": paper},
        "inactive_neuron_updates": {"pJ": 52.0, "source": paper},
        "input_packets": {"pJ": 1.7, "source": "assumption: as a spike within a tile"},
        "spike_packets": {"pJ": 1.7, "source": paper + " (spike within a tile)"},
        "error_packets": {"pJ": 1.7, "source": "assumption: as a spike packet"},
        "partial_sum_packets": {"pJ": 1.7, "source": "assumption: as a spike packet"},
        "hops_ew": {"pJ": 3.0, "source": paper},
        "hops_ns": {"pJ": 4.0, "source": paper},
        "trace_updates": {"pJ": 52.0, "source": "assumption: as an inactive neuron update"},
        "error_reads": {"pJ": 23.6, "source": "assumption: as a synaptic op (word read + MAC)"},
        "modulator_ops": {"pJ": 52.0, "source": "assumption: as an inactive neuron update"},
        "weight_updates": {"pJ": 120.0, "source": paper + " (synaptic update)"},
        "accumulator_updates": {"pJ": 120.0, "source": "assumption: as a synaptic update"},
        "gradient_macs": {"pJ": 23.6, "source": "assumption: as a synaptic op (a MAC)"},
        "accumulator_reads": {"pJ": 23.6, "source": "assumption: as a synaptic op"},
        "static_core_steps": {"pJ": 0.0, "source": "not modelled (set chip.static_pj_per_core_step)"},
    }


def add_pj(bits: int) -> float:
    """Integer add: 0.03 pJ at 8 bits, 0.1 pJ at 32 bits, linear in width (below 8: scaled)."""
    return 0.03 * bits / 8 if bits <= 8 else 0.03 + (0.1 - 0.03) * (bits - 8) / 24


def mult_pj(bits: int) -> float:
    """Integer multiply: 0.2 pJ x (bits / 8)^2 (3.2 pJ at 32 bits, Horowitz gives 3.1)."""
    return 0.2 * (bits / 8) ** 2


def sram_read_pj(bits: int, array_kib: float) -> float:
    """Read of ``bits`` from an SRAM array: 64-bit read energy interpolated in log2(size)
    through 8 KB -> 10 pJ, 32 KB -> 20 pJ, 1 MB -> 100 pJ, scaled by bits / 64."""
    points = [(math.log2(8), 10.0), (math.log2(32), 20.0), (math.log2(1024), 100.0)]
    s = math.log2(max(array_kib, 1.0))
    if s <= points[0][0]:
        e64 = points[0][1] * 2 ** (s - points[0][0])
    elif s >= points[-1][0]:
        e64 = points[-1][1] * 2 ** (s - points[-1][0])
    else:
        (a, ea), (b, eb) = next(((p, q) for p, q in zip(points, points[1:]) if s <= q[0]))
        e64 = ea + (eb - ea) * (s - a) / (b - a)
    return e64 * bits / 64


def horowitz45(bits, sram_kib: float) -> dict[str, dict]:
    """Per-event energies composed from 45 nm components at the chip's widths ``bits``."""
    w, v, a, e = bits.weight, bits.membrane, bits.trace, bits.error
    read = lambda n: sram_read_pj(n, sram_kib)  # noqa: E731
    lut = sram_read_pj(bits.surrogate, 8)
    loihi = loihi2018()
    src = "Horowitz 2014 components: "
    return {
        "synaptic_ops": {"pJ": read(w) + add_pj(v), "source": src + f"SRAM read {w} b + add {v} b"},
        "synapse_rows_read": {"pJ": 0.0, "source": "assumption: included in the synaptic op"},
        "active_neuron_updates": {"pJ": mult_pj(v) + 2 * add_pj(v),
                                  "source": src + f"leak mult {v} b + add + compare {v} b"},
        "inactive_neuron_updates": {"pJ": mult_pj(v) + 2 * add_pj(v),
                                    "source": src + "as an active update (same datapath)"},
        "input_packets": {"pJ": loihi["input_packets"]["pJ"], "source": "loihi2018 (no 45 nm figure)"},
        "spike_packets": {"pJ": loihi["spike_packets"]["pJ"], "source": "loihi2018 (no 45 nm figure)"},
        "error_packets": {"pJ": loihi["error_packets"]["pJ"], "source": "loihi2018 (no 45 nm figure)"},
        "partial_sum_packets": {"pJ": loihi["partial_sum_packets"]["pJ"],
                                "source": "loihi2018 (no 45 nm figure)"},
        "hops_ew": {"pJ": loihi["hops_ew"]["pJ"], "source": "loihi2018 (no 45 nm figure)"},
        "hops_ns": {"pJ": loihi["hops_ns"]["pJ"], "source": "loihi2018 (no 45 nm figure)"},
        "trace_updates": {"pJ": mult_pj(a) + add_pj(a), "source": src + f"mult + add {a} b"},
        "error_reads": {"pJ": read(w) + mult_pj(max(w, e)) + add_pj(32),
                        "source": src + f"SRAM read {w} b + mult {max(w, e)} b + add 32 b"},
        "modulator_ops": {"pJ": lut + mult_pj(e),
                          "source": src + f"LUT read {bits.surrogate} b (8 KB) + mult {e} b"},
        "weight_updates": {"pJ": 2 * read(w) + mult_pj(e) + mult_pj(bits.learning_rate) + add_pj(w),
                           "source": src + f"SRAM read + write {w} b + 2 mults + add"},
        "accumulator_updates": {"pJ": 2 * read(bits.accumulator) + mult_pj(e) + add_pj(bits.accumulator),
                                "source": src + f"SRAM read + write {bits.accumulator} b + mult + add"},
        "gradient_macs": {"pJ": mult_pj(e) + add_pj(32), "source": src + f"mult {e} b + add 32 b"},
        "accumulator_reads": {"pJ": read(bits.accumulator),
                              "source": src + f"SRAM read {bits.accumulator} b"},
        "static_core_steps": {"pJ": 0.0, "source": "not modelled (set chip.static_pj_per_core_step)"},
    }


def user_table(values: dict[str, float]) -> dict[str, dict]:
    return {k: {"pJ": float(v), "source": "user table (chip.energy)"} for k, v in values.items()}


PRESETS = {"loihi2018": lambda bits, kib: loihi2018(), "horowitz45": horowitz45}

# whether a table's energies change with the chip's bit widths, and how a figure says so
WIDTHS = {
    "loihi2018": (False, "loihi2018 prices a synaptic op the same at every weight width: "
                         "its energy follows activity only"),
    "horowitz45": (True, "horowitz45 composes every event at the chip's bit widths"),
    "user": (False, "a user table (chip.energy) prices every event the same at every width"),
}


def width_dependent(table: str) -> bool:
    """Whether table ``table``'s energies change with the chip's bit widths."""
    return WIDTHS[table][0]


def width_statement(table: str) -> str:
    """One line a figure carries about table ``table`` and the widths."""
    return WIDTHS[table][1]
