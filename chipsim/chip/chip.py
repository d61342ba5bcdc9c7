"""A chip with a network loaded: memories, registers and counters, and how to run it.

``Chip`` holds configuration and state; the work is done by the numba kernels (or, with
``reference=True``, by their numpy twins, for tests). Samples are learned one after the other
as the chip would; inference with frozen weights runs samples in parallel.
"""
from __future__ import annotations

from functools import partial

import numba
import numpy as np

from chipsim.chip import counters as ev
from chipsim.chip import kernels, reference
from chipsim.chip.kernel_cache import compile_in_helper, is_cached, wait_for_helper
from chipsim.chip.arrays import Memories, has_conv, kernel_view, new_registers, storage_dtype
from chipsim.chip.formats import ChipFormats
from chipsim.chip.overflow import ERROR, VARIABLES
from chipsim.errors import SimulationError


class Chip:
    def __init__(self, names: list[str], formats: ChipFormats, memories: Memories, rule=None,
                 reference: bool = False, quantization: list[dict] = ()):
        self.names, self.formats, self.memories, self.rule = names, formats, memories, rule
        self.reference, self.quantization = reference, list(quantization)
        self.registers = new_registers(memories, wide=reference)  # the training run's
        self.inference_counts = np.zeros_like(self.registers.counters)
        self.inference_neuron_counts = np.zeros_like(self.registers.neuron_counts)
        self._empty = np.zeros((0, 0), np.uint8), np.zeros((0, 0), np.int64)
        self._view = None  # (memories, registers, their kernel_view)
        self._helper = None  # a process compiling the training kernel

    def __repr__(self) -> str:  # the formats, not the memories
        widths = ", ".join(f"{lf.name} {lf.weight.bits}-bit weights" for lf in self.formats.layers)
        rule = self.rule.name if self.rule else "inference only"
        return f"Chip({widths}; {rule})"

    def kernel_args(self):
        """(memories, registers) as the kernels take them, over the chip's own arrays (made
        again when ``memories`` or ``registers`` is replaced)."""
        if self._view is None or self._view[0] is not self.memories or \
                self._view[1] is not self.registers:
            self._view = (self.memories, self.registers,
                          kernel_view(self.memories, self.registers))
        return self._view[2]

    def kernels(self, training: bool) -> list:
        """The numba kernels a run calls: inference, and the rule's training kernel."""
        conv = has_conv(self.memories)
        return [kernels.infer_kernel(conv)] + (
            [self.rule.train_kernel(conv)] if training and self.rule else [])

    def compile_training_elsewhere(self) -> None:
        """When both the inference and the training kernel must compile (a cold cache), have
        a helper process compile the training kernel while this one compiles and runs the
        inference kernel; the first training batch waits for it. (Call before an evaluation
        that precedes training.)"""
        if self.reference or self.rule is None or self._helper is not None or any(
                is_cached(k) for k in self.kernels(training=True)):
            return
        shape = (1, 1, self.memories.n_in[0])  # a writable C-order batch, as train_batch's
        xq = np.zeros(shape, self.payloads(np.zeros(shape)).dtype)
        args = self.kernel_args() + self._train_arrays(xq, np.zeros(1, np.int64), True)
        signature = tuple(numba.typeof(a) for a in args)  # (the types, not the sizes, count)
        self._helper = compile_in_helper(
            partial(self.rule.train_kernel, has_conv(self.memories)), signature)
        if self._helper is not None:  # meanwhile, what the helper reaches last
            for kernel in self.rule.engine_kernels:
                kernel.compile(signature[:2])

    # ------------------------------------------------------------------ input
    def payloads(self, x: np.ndarray) -> np.ndarray:
        """Real inputs (..., n_in) as integer payloads in the input format's storage type:
        binary spikes (uint8) or graded values (uint8 / uint16 for up to 16 bits)."""
        fmt, x = self.formats.input, np.asarray(x)
        if x.ndim == 3 and x.strides[1] == 0:  # direct coding: one conversion for all steps
            return np.broadcast_to(self.payloads(x[:, 0])[:, None], x.shape)
        if self.formats.binary_input:
            return (x != 0).view(np.uint8)
        return fmt.quantize(x)[0].astype(storage_dtype(fmt.bits, fmt.signed))

    # ------------------------------------------------------------------ learning
    def train_batch(self, x: np.ndarray, labels: np.ndarray, outputs: bool = False) -> np.ndarray:
        """Learn from a batch of real inputs (B, T, n_in) sample by sample; returns the
        predictions made while learning. ``outputs``: keep the output layer's u[t] of the
        batch (B, T, classes; real units; what the loss is computed on) in ``last_outputs``
        (B x T x classes x 16 bytes: the one simulator array that grows with T)."""
        return self.train_payloads(np.ascontiguousarray(self.payloads(x)), labels, outputs)

    def train_payloads(self, xq: np.ndarray, labels: np.ndarray,
                       outputs: bool = False) -> np.ndarray:
        """``train_batch`` on inputs already converted by ``payloads`` (C order)."""
        rule, kept = self.rule, outputs
        xq, labels, preds, outputs = self._train_arrays(xq, labels, kept)
        if self.reference:
            rule.train_batch_ref(self.memories, self.registers, xq, labels, rule.flags, preds,
                                 outputs)
        else:
            if self._helper is not None:
                wait_for_helper(self._helper)
                self._helper = None
            rule.train_kernel(has_conv(self.memories))(*self.kernel_args(), xq, labels, preds,
                                                       outputs)
        self._check_overflow(len(labels))
        self.last_outputs = self.formats.layers[-1].membrane.to_real(outputs) if kept else None
        return preds

    def _train_arrays(self, xq: np.ndarray, labels, kept: bool) -> tuple:
        """The training kernel's arguments after (memories, registers): inputs, labels,
        predictions, and the outputs u[t] (kept: (B, T, classes), else empty)."""
        outputs = (np.empty((len(labels), xq.shape[1], int(self.memories.n_out[-1])), np.int64)
                   if kept else np.zeros((0, 0, 0), np.int64))
        return xq, np.asarray(labels, np.int64), np.empty(len(labels), np.int64), outputs

    def _check_overflow(self, batch: int) -> None:
        """Under the 'error' policy, stop with what overflowed, where and when."""
        recorded, kind, layer, sample, step, value = (int(v) for v in self.registers.first_overflow)
        if not recorded:
            return
        fmt = self._format_of(kind, layer)
        when = (f"sample {sample} of the batch, time step {step}" if sample < batch
                else "the end of the batch, writing the accumulated changes")
        raise SimulationError(
            f"overflow of the {VARIABLES[kind]} in layer '{self.names[layer]}' at {when}: "
            f"value {value} ({fmt.to_real(value):.6g} real) outside {fmt.describe()}; "
            f"chip.overflow sets 'error' for {VARIABLES[kind]} (use saturate or wrap, or wider "
            "chip.bits)")

    def _format_of(self, kind: int, layer: int):
        f, lf = self.formats, self.formats.layers[layer]
        return {0: lf.membrane, 1: f.trace, 2: f.error, 3: lf.weight, 4: lf.accumulator}[kind]

    # ------------------------------------------------------------------ inference
    def infer(self, x: np.ndarray, record: tuple[str, ...] = (), losses_of=None):
        """Frozen-weight inference on (N, T, n_in). Returns (predictions, recordings).

        recordings map '<layer>.spikes' (uint8) and '<layer>.membrane' (real units: u after
        charging, before reset; read-out: o[t]) to (N, T, units) arrays; 'output' in
        ``record``: the output layer's u[t] (the loss's o[t]; real) as 'output' (N, T,
        classes). ``losses_of(outputs, start, stop)``: the losses of samples [start, stop)
        from their u[t] (real), computed as the inference threads make them (no (N, T,
        classes) array), as 'loss' (N,). Counts accumulate in ``inference_counts``.
        """
        m, x = self.memories, np.asarray(x)
        n, steps = x.shape[:2]
        to_real = self.formats.layers[-1].membrane.to_real
        losses = np.zeros(n) if losses_of is not None else None

        def outputs_done(start, stop, out):
            losses[start:stop] = losses_of(to_real(out), start, stop)

        neurons = int(m.n_off[-1] + m.n_out[-1])
        spikes = (np.zeros((n, steps, neurons), np.uint8) if "spikes" in record
                  else np.zeros((0, 0, 0), np.uint8))
        membrane = (np.zeros((n, steps, neurons), np.int64) if "membrane" in record
                    else np.zeros((0, 0, 0), np.int64))
        whole_output = "output" in record or (self.reference and losses_of is not None)
        output = (np.zeros((n, steps, int(m.n_out[-1])), np.int64) if whole_output
                  else np.zeros((0, 0, 0), np.int64))
        if self.reference:
            xq = np.ascontiguousarray(self.payloads(x))
            preds = np.empty(n, np.int64)
            for k in range(n):
                r = new_registers(m, wide=True)
                preds[k] = reference.infer_sample(
                    m, r, xq[k], spikes[k] if len(spikes) else self._empty[0],
                    membrane[k] if len(membrane) else self._empty[1],
                    output[k] if len(output) else self._empty[1])
                self.inference_counts += r.counters
                self.inference_neuron_counts += r.neuron_counts
            if losses_of is not None:
                outputs_done(0, n, output)
        else:
            preds, counts, neuron_counts = kernels.infer_batch(
                m, x, spikes, membrane, output, numba.get_num_threads(),
                lambda part: np.ascontiguousarray(self.payloads(part)),
                outputs_done if losses_of is not None else None)
            self.inference_counts += counts
            self.inference_neuron_counts += neuron_counts
        self._check_inference_overflow()
        kept = {}
        for i, name in enumerate(self.names):
            lo, hi = int(m.n_off[i]), int(m.n_off[i] + m.n_out[i])
            if len(spikes) and m.spiking[i]:
                kept[f"{name}.spikes"] = spikes[:, :, lo:hi]
            if len(membrane):
                kept[f"{name}.membrane"] = self.formats.layers[i].membrane.to_real(
                    membrane[:, :, lo:hi])
        if "output" in record:
            kept["output"] = to_real(output)
        if losses is not None:
            kept["loss"] = losses
        return preds, kept

    def _check_inference_overflow(self) -> None:
        """Inference runs samples in parallel: under 'error' it reports counts, not the first."""
        modes = self.memories.overflow_mode
        columns = {0: ev.OVERFLOW_MEMBRANE, 1: ev.OVERFLOW_TRACE}
        for kind, column in columns.items():
            if modes[kind] == ERROR and self.inference_counts[:, column].any():
                layer = int(np.flatnonzero(self.inference_counts[:, column])[0])
                raise SimulationError(
                    f"overflow of the {VARIABLES[kind]} in layer '{self.names[layer]}' during "
                    f"inference ({int(self.inference_counts[layer, column])} values outside "
                    f"{self._format_of(kind, layer).describe()}); chip.overflow sets 'error' "
                    f"for {VARIABLES[kind]}")

    # ------------------------------------------------------------------ reading out
    def weight_ints(self) -> list[np.ndarray]:
        """The synapse memory as integer arrays per layer: dense (out, in), conv
        (out, in, kh, kw)."""
        return [reference.layer_weights(self.memories, l) for l in range(len(self.names))]

    def bias_ints(self) -> dict[str, np.ndarray]:
        """The biases in neuron memory as integers per layer that has one, (out channels,)."""
        m = self.memories
        return {name: m.bias[m.b_off[l]:m.b_off[l] + m.row_len[l]].copy()
                for l, name in enumerate(self.names) if m.has_bias[l]}

    def weights(self) -> tuple[dict, dict]:
        """Weights ((out, in) or (out, in, kh, kw)) and biases as real numbers (float64) keyed
        by layer name."""
        formats = dict(zip(self.names, self.formats.layers))
        return ({name: lf.weight.to_real(w) for name, lf, w in
                 zip(self.names, self.formats.layers, self.weight_ints())},
                {name: formats[name].bias.to_real(b) for name, b in self.bias_ints().items()})

    def state(self) -> dict[str, np.ndarray]:
        """Every array that changes while the chip runs (views: a checkpoint fills them)."""
        arrays = {"memories.weights": self.memories.weights,
                  "memories.accum": self.memories.accum,
                  "memories.bias": self.memories.bias,
                  "memories.bias_accum": self.memories.bias_accum,
                  "inference_counts": self.inference_counts,
                  "inference_neuron_counts": self.inference_neuron_counts}
        # (OTTT_A's accumulation log and transposed copies are out of use between batches)
        arrays.update({f"registers.{k}": getattr(self.registers, k)
                       for k in self.registers._fields if not k.startswith(("log_", "w_t"))})
        return arrays

    def spike_rates(self, counts: np.ndarray) -> dict[str, float]:
        """Spikes per neuron per step of every spiking layer, from (layers, events) counts."""
        m = self.memories
        return {name: float(counts[l, ev.SPIKES] / max(1, counts[l, ev.NEURON_UPDATES]))
                for l, name in enumerate(self.names) if m.spiking[l]}

    def probe(self, x: np.ndarray, record: tuple[str, ...] = ()):
        """``infer`` without counting: the inference counts keep describing the last test
        pass (a figure's sample, a NeuroBench batch)."""
        counts = (self.inference_counts.copy(), self.inference_neuron_counts.copy())
        try:
            return self.infer(x, record)
        finally:
            self.inference_counts[:], self.inference_neuron_counts[:] = counts

    def reset_inference_counts(self) -> None:
        self.inference_counts[:] = 0
        self.inference_neuron_counts[:] = 0

    def counts(self) -> dict:
        """{'training': {layer: {event: n}}, 'inference': {...}}."""
        return {"training": ev.as_dict(self.registers.counters, self.names),
                "inference": ev.as_dict(self.inference_counts, self.names)}
