"""Hardware events the chip counts, per core (one layer per core here) and per phase.

The simulator only counts; the cost model prices counts in cycles and picojoules. Every event
type is a column of the int64 counter array the kernels increment.
"""
from __future__ import annotations

import numpy as np

# (name, phase, meaning); the index in this tuple is the counter column.
EVENTS = (
    ("synapse_rows_read", "spike_delivery", "synapse rows read: one per active input axon"),
    ("synaptic_ops", "spike_delivery", "synapse words read and accumulated into dendrites"),
    ("neuron_updates", "neuron_update", "neuron register updates (every neuron, every step)"),
    ("active_neuron_updates", "neuron_update", "updates of neurons with input or a nonzero state"),
    ("spikes", "neuron_update", "output spikes (packets to the router)"),
    ("trace_updates", "trace_update", "presynaptic trace register updates, counted at the "
     "layer whose axons hold the traces (the next layer; layer 1's only with input_trace)"),
    ("error_messages", "learning", "nonzero error values received by the core"),
    ("error_reads", "learning", "synapse or feedback words read to form the backward error"),
    ("backward_nonzero_errors", "learning",
     "neurons with a nonzero error when the layer below reads their weights backwards"),
    ("modulator_ops", "learning", "surrogate look-ups and error x surrogate products"),
    ("weight_updates", "learning", "synapse read-modify-writes by the learning engine"),
    ("accumulator_updates", "learning", "OTTT_A accumulator read-modify-writes"),
    ("gradient_macs", "learning",
     "error x presynaptic products summed into a shared conv kernel's change"),
    ("accumulator_reads", "learning", "accumulator words scanned when a batch ends"),
    ("overflow_membrane", "overflow", "membrane values saturated"),
    ("overflow_trace", "overflow", "trace values saturated"),
    ("overflow_error", "overflow", "error values saturated"),
    ("overflow_weight", "overflow", "weights saturated at the weight range"),
    ("overflow_accumulator", "overflow", "accumulator values saturated"),
    # NeuroBench's definitions (report.neurobench)
    ("effective_synaptic_ops", "spike_delivery",
     "synapse words read whose weight is nonzero (inference only; NeuroBench's effective ops)"),
    ("membrane_changes", "neuron_update", "spiking neurons whose u differs from the last step's, "
     "all of them at a sample's first step (NeuroBench's MembraneUpdates)"),
    ("recurrent_rows_read", "spike_delivery", "synapse rows read by the layer's own spikes of "
     "the previous step (recurrent layers; included in synapse_rows_read)"),
)
NAMES = tuple(name for name, _, _ in EVENTS)
N_EVENTS = len(EVENTS)
(SYNAPSE_ROWS_READ, SYNAPTIC_OPS, NEURON_UPDATES, ACTIVE_NEURON_UPDATES, SPIKES, TRACE_UPDATES,
 ERROR_MESSAGES, ERROR_READS, BACKWARD_NONZERO_ERRORS, MODULATOR_OPS, WEIGHT_UPDATES,
 ACCUMULATOR_UPDATES, GRADIENT_MACS, ACCUMULATOR_READS, OVERFLOW_MEMBRANE, OVERFLOW_TRACE, OVERFLOW_ERROR, OVERFLOW_WEIGHT,
 OVERFLOW_ACCUMULATOR, EFFECTIVE_SYNAPTIC_OPS, MEMBRANE_CHANGES, RECURRENT_ROWS_READ) = range(
    N_EVENTS)


# Per-neuron counts (rows of Registers.neuron_counts): what the cost model needs to split a
# layer's events over the cores holding slices of its neurons. The columns after the last
# neuron are the inputs: row spikes counts their events (nonzero payloads).
NEURON_EVENTS = ("spikes", "active_neuron_updates", "weight_updates", "accumulator_updates")
N_SPIKES, N_ACTIVE, N_WEIGHT_UPDATES, N_ACCUMULATOR_UPDATES = range(len(NEURON_EVENTS))


def as_dict(counts: np.ndarray, layer_names: list[str]) -> dict[str, dict[str, int]]:
    """{layer: {event: count}} from a (layers, events) array."""
    return {name: {ev: int(counts[i, k]) for k, ev in enumerate(NAMES)}
            for i, name in enumerate(layer_names)}
