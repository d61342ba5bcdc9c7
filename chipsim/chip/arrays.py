"""The chip as plain arrays: what the numba kernels and their numpy twins operate on.

``Memories`` holds per-layer tables, the synapse memory and rule memories, lookup tables and
constants: shared by all samples. ``Registers`` holds what one running sample changes: neuron
and trace registers, error registers, counters and the generators' draw counters. Training
keeps one Registers for the whole run; parallel inference gives each sample its own.

Synapse memory layout (per layer, in rows, as a core stores them): a dense layer has a row
per input (axon) of ``row_len = n_out`` weights: the weight from input j to neuron i is
``weights[w_off[l] + j * n_out[l] + i]``. A conv layer stores its kernel once, a row per
(input channel, ky, kx) of ``row_len = out_channels`` weights. ``n_in[l]`` counts rows.
Neuron registers of layer l are at ``n_off[l] + i`` (conv: i = (channel, y, x) in C order).
Biases live in neuron memory, one per output channel (dense: per neuron): neuron i of layer
l adds ``bias[b_off[l] + i // plane]``, plane = the output map's H x W (dense: 1); a layer
without a bias has ``has_bias[l] = 0`` and no entries.

The layer geometry (``GEOMETRY``, an (L,) table each) describes what feeds the layer: the
presynaptic map ``pre_c, pre_h, pre_w`` before pooling, the pooling factor ``pool`` = p (an
average over p x p is folded in: the p^2 becomes part of the layer's shifts, so p^2 must be a
power of two), and the output map ``out_c, out_h, out_w`` (dense: n_out, 1, 1); conv layers
(``conv`` = 1) add their kernel, stride and padding (dense: 1, 1, 0).

A recurrent dense layer (``recurrent`` = 1) stores [W | W_rec]: n_pre rows read by the layer
below (or the inputs), then n_out rows read by its own spikes of the previous step, in the
same core; ``n_in`` counts both. Its OTTT learns the last n_out rows from its own trace of the
previous step (``Registers.a_prev``).

Feedback matrices (broadcast error path) of hidden layer l:
``feedback[fb_off[l] + c * n_out[l] + i]`` for class c.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

import numba as nb
import numpy as np
from numba.core import types
from numba.experimental import structref

from chipsim.chip import counters as ev
from chipsim.chip.fixedpoint import ROUNDING, Format
from chipsim.chip.formats import LOSS_FRAC, ChipFormats
from chipsim.chip.overflow import POLICIES, VARIABLES
from chipsim.chip.lut import exp_table, surrogate_table
from chipsim.errors import ConfigError
from chipsim.seeding import stream


# the layer geometry's tables, in Memories' order
GEOMETRY = ("conv", "pre_c", "pre_h", "pre_w", "pool", "out_c", "out_h", "out_w",
            "kernel_h", "kernel_w", "stride_h", "stride_w", "pad_h", "pad_w")


class Memories(NamedTuple):
    # per-layer tables (L,)
    n_in: np.ndarray             # synapse rows
    n_out: np.ndarray            # neurons
    row_len: np.ndarray          # weights per row (dense: n_out; conv: out channels)
    n_pre: np.ndarray            # presynaptic activity length (the map before pooling)
    n_map: np.ndarray            # pooled presynaptic map (dense: n_in)
    # layer geometry (see GEOMETRY and the module docstring)
    conv: np.ndarray             # 1: a conv layer
    pre_c: np.ndarray            # presynaptic map before pooling: channels, height, width
    pre_h: np.ndarray
    pre_w: np.ndarray
    pool: np.ndarray             # pooling factor p (1: none)
    out_c: np.ndarray            # output map: channels, height, width
    out_h: np.ndarray
    out_w: np.ndarray
    kernel_h: np.ndarray         # conv kernel, stride and padding
    kernel_w: np.ndarray
    stride_h: np.ndarray
    stride_w: np.ndarray
    pad_h: np.ndarray
    pad_w: np.ndarray
    w_off: np.ndarray
    n_off: np.ndarray
    spiking: np.ndarray
    delivery_shift: np.ndarray
    threshold: np.ndarray
    weight_frac: np.ndarray
    membrane_frac: np.ndarray
    surrogate_shift: np.ndarray
    update_shift: np.ndarray
    pool_shift: np.ndarray
    fb_off: np.ndarray
    fb_frac: np.ndarray
    w_lo: np.ndarray
    w_hi: np.ndarray
    v_lo: np.ndarray
    v_hi: np.ndarray
    acc_lo: np.ndarray
    acc_hi: np.ndarray
    rng_key: np.ndarray          # uint64 (L,): each core's stochastic-rounding generator
    lam: np.ndarray              # the layer neuron's leak x 2^LAMBDA_FRAC (2^16: IF)
    firing_gt: np.ndarray        # 1: fire on u > threshold; 0: u >= threshold
    reset_mode: np.ndarray       # formats.RESET_SUBTRACT / RESET_ZERO / RESET_NEXT_STEP
    has_bias: np.ndarray
    b_off: np.ndarray
    bias_shift: np.ndarray       # bias LSB -> membrane LSB (> 0: right shift, rounded)
    bias_update_shift: np.ndarray
    b_lo: np.ndarray
    b_hi: np.ndarray
    recurrent: np.ndarray        # 1: the layer's last n_out rows are read by its own spikes
    syn_lam: np.ndarray          # a CUBA layer's synaptic-current decay x 2^LAMBDA_FRAC (0: none)
    # memories
    weights: np.ndarray          # synapse memory: int8 / int16 / int32 by the widest weight
    accum: np.ndarray            # OTTT_A accumulators (same layout) or empty: int32 / int64
    feedback: np.ndarray         # broadcast feedback matrices or empty
    bias: np.ndarray             # neuron memory's biases (see above), int64
    bias_accum: np.ndarray       # OTTT_A accumulators of the biases (same layout) or empty
    dendrite_like: np.ndarray    # empty, of the dendrite accumulators' type (see dendrite_dtype)
    row_nnz: np.ndarray          # int32, per synapse row: its nonzero weights (row_nonzeros)
    nnz_off: np.ndarray          # (L,): layer l's first row in row_nnz
    sg_lut: np.ndarray
    exp_lut: np.ndarray
    # constants
    lam_in: int                  # the input trace's leak x 2^LAMBDA_FRAC
    trace_one: int               # a spike adds 1.0 to a trace: 2^trace_frac
    trace_hi: int
    in_to_trace_shift: int       # input payload fraction -> trace fraction (> 0: right shift)
    input_one: int               # a spike (1.0) in input payload units: 2^input_frac
    # a recurrent first layer without input_trace learns from [x, a[t-1]] in one format (its
    # pre format): payloads and its own traces are shifted left into it, exactly
    first_pre_shift: int         # x -> pre
    first_own_shift: int         # a[t-1] -> pre
    e_lo: int
    e_hi: int
    error_frac: int
    surrogate_frac: int
    exp_shift: int               # (o_max - o) >> exp_shift indexes the exp table (< 0: left)
    lr_mantissa: int
    rounding: int
    q_ce: int                    # (1 - m) as Q16
    q_mse: int                   # 2 m / C as Q16
    overflow_mode: np.ndarray    # (5,) policy per chip.overflow.VARIABLES kind
    input_trace: int             # 1: layer 1 learns from a trace of the input
    predict_spikes: int          # 1: the class is the output layer's largest spike count


class Registers(NamedTuple):
    # v, u, s, a, a_in, x_pre and pooled_pre: in register_dtype (int32 unless a format needs
    # more); the numpy twins run on int64 copies (new_registers(wide=True))
    v: np.ndarray                # membrane after reset
    u: np.ndarray                # membrane after charge, before reset (read-out: o[t])
    s: np.ndarray                # spikes of this step
    a: np.ndarray                # presynaptic traces (of each layer's output)
    a_prev: np.ndarray           # a recurrent layer's traces of the previous step (learning)
    i_syn: np.ndarray            # CUBA neurons' synaptic current (membrane LSB; else empty)
    e: np.ndarray                # error / modulator registers, int64
    a_in: np.ndarray             # input trace (input_trace: true)
    x_pre: np.ndarray            # input payload of this step
    dendrite: np.ndarray         # dendrite accumulators of the layer being updated
    charge: np.ndarray           # int64 scratch: the layer's u before the overflow policy
    scratch: np.ndarray          # int64 scratch of the learning engine (errors, exp values)
    active: np.ndarray           # scratch: indices of the nonzero presynaptic values
    pooled: np.ndarray           # int64 scratch: a pooled map's backward error
    pooled_pre: np.ndarray       # scratch: a pooled presynaptic map (register_dtype)
    kgrad: np.ndarray            # scratch: a conv kernel's gradient summed over positions
    counters: np.ndarray         # (L, events) int64
    neuron_counts: np.ndarray    # (counters.NEURON_EVENTS, neurons + inputs) int64: a row per
    #                              event; the last n_pre[0] columns count input events (row spikes)
    rng_ctr: np.ndarray          # (L,) int64: draws made by each core's generator
    first_overflow: np.ndarray   # (6,): recorded, kind, layer, sample, step, value (policy error)
    clock: np.ndarray            # (2,): sample within the batch, time step
    # OTTT_A's accumulation log (learning registers only; see learning_engine.accumulate)
    log_pre: np.ndarray          # int32 (int64 if wider): per dense layer, a row per logged
                                 # step of its presynaptic values
    log_delta: np.ndarray        # per dense layer, a row per logged step of its deltas (in the
                                 # error width's storage type: int8 by default)
    log_at: np.ndarray           # (L, 4): pre offset, delta offset, steps logged, depth
    # OTTT_A: a transposed copy of each later dense layer's synapse memory, for the backward
    # read, made when a batch starts (weights are frozen until its end)
    w_t: np.ndarray              # of the weights' type; layer l at w_t_at[l, 0]
    w_t_at: np.ndarray           # (L, 2): offset (-1: none), 1 while the copy is current


# ----------------------------------------------------------------------------- kernel views
# The kernels take Memories and Registers as structs: one pointer to the same arrays. As
# NamedTuples (~60 arrays, each 7 machine words) every kernel compiled hundreds of arguments,
# their reference counts and a Python unboxing wrapper: about 0.8 s of compiling per kernel,
# most of a first run's minute. A struct's array fields cost a load each time they are read,
# so kernels read them into locals before their loops.
@structref.register
class MemoriesStruct(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


@structref.register
class RegistersStruct(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


class MemoriesRef(structref.StructRefProxy):
    """``Memories`` as the kernels take them (the same arrays, not copies)."""


class RegistersRef(structref.StructRefProxy):
    """``Registers`` as the kernels take them (the same arrays, not copies)."""


structref.define_proxy(MemoriesRef, MemoriesStruct, list(Memories._fields))
structref.define_proxy(RegistersRef, RegistersStruct, list(Registers._fields))


@nb.njit(cache=True)
def _memories_ref(m):
    return MemoriesRef(*m)


@nb.njit(cache=True)
def _registers_ref(r):
    return RegistersRef(*r)


def count_row_nonzeros(m: Memories) -> None:
    """row_nnz[nnz_off[l] + j] = the nonzero weights of layer l's synapse row j, for the
    inference counter effective_synaptic_ops (NeuroBench's effective ops): a count per row
    read instead of a test per synapse. Made again before every inference pass, as learning
    changes the weights."""
    for l in range(len(m.n_in)):
        n, width, base = int(m.n_in[l]), int(m.row_len[l]), int(m.w_off[l])
        rows = m.weights[base:base + n * width].reshape(n, width)
        m.row_nnz[m.nnz_off[l]:m.nnz_off[l] + n] = np.count_nonzero(rows, axis=1)


def has_conv(m: Memories) -> bool:
    """Whether any layer is convolutional (the kernels are specialized on it)."""
    return bool(m.conv.any())


def kernel_view(m: Memories, r: Registers):
    """(memories, registers) as the kernels take them: structs over the same arrays, so what
    a kernel writes is seen through the NamedTuples."""
    return _memories_ref(m), _registers_ref(r)


LOG_BYTES = 4 << 20         # at most this much accumulation log per training run
LOG_DELTA_BYTES = 256 << 10  # one dense layer's logged deltas: they stay in a core's L2 cache
LOG_DEPTH = 256              # steps logged at most before the adds are made


def delta_dtype(m) -> type:
    """Storage type of logged deltas: the error width's."""
    return storage_dtype(int(m.e_hi).bit_length() + 1)


def log_depth(m) -> int:
    """Steps of OTTT_A's accumulation log (0: no accumulators): as many as fit the budgets."""
    dense = [l for l in range(len(m.n_in)) if not m.conv[l]]
    if m.accum.size == 0 or not dense:
        return 0
    delta_bytes = np.dtype(delta_dtype(m)).itemsize
    per_step = sum(8 * int(m.n_map[l]) + delta_bytes * int(m.n_out[l]) for l in dense)  # (bound)
    widest = max(delta_bytes * int(m.n_out[l]) for l in dense)
    return max(1, min(LOG_DEPTH, LOG_BYTES // per_step, LOG_DELTA_BYTES // widest))


def pre_dtype(m) -> type:
    """int32 when every presynaptic value a row can see fits 31 bits (payloads of up to 16
    bits or traces, summed over a pooling window), else int64."""
    pre_max = max(int(m.trace_hi) << int(m.first_own_shift),
                  ((1 << 16) - 1) << int(m.first_pre_shift)) * int(m.pool.max()) ** 2
    return np.int32 if pre_max < 1 << 31 else np.int64


def register_dtype(m) -> type:
    """The neuron and trace registers' type (v, u, s, a, a_in, x_pre): int32 when the
    membrane format and every presynaptic value fit it, else int64. (Not int16 for 16-bit
    membranes: one type for all registers keeps one specialization of every kernel per
    run, and the per-neuron counters, int64, dominate the neuron update's traffic anyway.)"""
    membrane = max(-int(m.v_lo.min()), int(m.v_hi.max()))
    return np.int32 if membrane < 1 << 31 and pre_dtype(m) == np.int32 else np.int64


def new_registers(m, learning: bool = True, wide: bool = False):
    """Zeroed registers for the chip ``m`` (learning: OTTT_A's full accumulation log and
    transposed copies; else a one-step log). wide: int64 neuron and trace registers (the
    numpy twins': no narrow type under their arithmetic)."""
    n = m.n_off[-1] + m.n_out[-1]
    layers = m.n_in.shape[0]
    kernel = 1
    for l in range(layers):
        if m.conv[l]:
            kernel = max(kernel, m.n_in[l] * m.row_len[l])
    depth = log_depth(m) if learning else min(1, log_depth(m))  # (accumulate needs a log)
    log_at = np.full((layers, 4), -1, np.int64)
    log_at[:, 2:] = 0, depth
    pre_rows = delta_rows = 0
    pre_type, reg = pre_dtype(m), np.int64 if wide else register_dtype(m)
    w_t_at, mirror = np.full((layers, 2), -1, np.int64), 0
    w_t_at[:, 1] = 0
    for l in range(1, layers):
        if learning and depth and not m.conv[l]:  # (inference never learns)
            w_t_at[l, 0], mirror = mirror, mirror + m.n_in[l] * m.n_out[l]
    for l in range(layers):
        if depth and not m.conv[l]:
            log_at[l, :2] = pre_rows * depth, delta_rows * depth
            pre_rows, delta_rows = pre_rows + m.n_map[l], delta_rows + m.n_out[l]
    return Registers(np.zeros(n, reg), np.zeros(n, reg), np.zeros(n, reg), np.zeros(n, reg),
                     np.zeros(n if learning and m.recurrent.any() else 0, reg),
                     np.zeros(n if m.syn_lam.any() else 0, reg),
                     np.zeros(n, np.int64), np.zeros(m.n_pre[0], reg), np.zeros(m.n_pre[0], reg),
                     np.zeros(m.n_out.max(), m.dendrite_like.dtype),
                     np.zeros(m.n_out.max(), np.int64),
                     np.zeros(m.n_out.max(), np.int64), np.zeros(m.n_pre.max(), np.int64),
                     np.zeros(m.n_map.max(), np.int64), np.zeros(m.n_map.max(), reg),
                     np.zeros(kernel, np.int64), np.zeros((layers, ev.N_EVENTS), np.int64),
                     np.zeros((len(ev.NEURON_EVENTS), n + m.n_pre[0]), np.int64),
                     np.zeros(layers, np.int64),
                     np.zeros(6, np.int64), np.zeros(2, np.int64),
                     np.zeros(pre_rows * depth, pre_type),
                     np.zeros(delta_rows * depth, delta_dtype(m)),
                     log_at, np.zeros(mirror, m.weights.dtype), w_t_at)


def storage_dtype(bits: int, signed: bool = True) -> type:
    """The narrowest machine integer type that holds ``bits``-bit values (how the memories
    are stored: a 16-bit weight takes 2 bytes, as in the chip's SRAM)."""
    types = (np.int8, np.int16, np.int32, np.int64) if signed else (
        np.uint8, np.uint16, np.uint32, np.uint64)
    return next(t for t in types if np.iinfo(t).bits >= bits)


def dendrite_dtype(formats: ChipFormats, n_pre, taps, recurrent_rows) -> type:
    """int32 when no layer's dendrite sum can leave 32 bits (every presynaptic value at its
    largest magnitude on every row that reaches a neuron, recurrent rows included), else
    int64: the narrower sum vectorizes twice as wide and is exact either way."""
    largest = 0
    for l, lf in enumerate(formats.layers):
        payload = 1 if l > 0 else max(abs(formats.input.lo), abs(formats.input.hi))
        spike = 1 if l > 0 else 1 << formats.input.frac  # a recurrent row's multiplier
        weight = max(abs(lf.weight.lo), abs(lf.weight.hi))
        largest = max(largest, (int(n_pre[l]) * int(taps[l]) * payload
                                + int(recurrent_rows[l]) * spike) * weight)
    return np.int32 if largest < 2 ** 31 else np.int64


def layer_geometry(layer, prefix, n_pre: int) -> dict[str, int]:
    """A synaptic layer's geometry (``GEOMETRY``, see the module docstring); ``prefix``
    holds the pooling/flatten steps in front of it."""
    pools = [op for op in prefix if op.kind == "pool2d"]
    if pools:
        c, h, w = pools[0].in_shape
        p = pools[0].kernel[0]
    elif layer.kind == "conv2d":
        (c, h, w), p = layer.in_shape, 1
    else:
        c, h, w, p = n_pre, 1, 1, 1
    if layer.kind == "conv2d":
        values = (1, c, h, w, p, *layer.out_shape, *layer.kernel, *layer.stride, *layer.padding)
    else:
        values = (0, c, h, w, p, layer.n_out, 1, 1, 1, 1, 1, 1, 0, 0)
    return dict(zip(GEOMETRY, values))


def memory_rows(w: np.ndarray) -> np.ndarray:
    """Integer weights in synapse-memory order: dense (out, in) -> rows per input; conv
    (out, in, kh, kw) -> rows per (in, ky, kx) of out_channels weights."""
    return (w.T if w.ndim == 2 else w.transpose(1, 2, 3, 0)).ravel()


def build_memories(formats: ChipFormats, weights: list[np.ndarray], *, rounding: str,
                   alpha: float, mse_weight: float, seed: int, accumulators: bool,
                   input_trace: bool = False, feedback: list[np.ndarray] = (), overflow=None,
                   chain=None, biases: list = (), predict_spikes: bool = False) -> Memories:
    """Lay out quantized weights (dense (out, in), conv (out, in, kh, kw) int arrays) and
    constants for the kernels. ``chain``: the network's (layer, prefix) pairs (default: all
    dense, no pooling). ``biases``: per layer an int array (out channels,) or None.

    ``overflow``: {variable: 'saturate' | 'wrap' | 'error'} (default: saturate everything).
    """
    if chain is None:
        chain = [(SimpleNamespace(kind="dense", n_out=w.shape[0]), ()) for w in weights]
    recurrent = np.array([int(getattr(layer, "recurrent", False)) for layer, _ in chain], np.int64)
    rows = []
    for i, ((layer, prefix), w) in enumerate(zip(chain, weights)):
        below = (w.shape[1] - recurrent[i] * w.shape[0] if i == 0
                 else rows[-1]["out_c"] * rows[-1]["out_h"] * rows[-1]["out_w"])
        if recurrent[i] and (layer.kind != "dense" or prefix):
            raise ConfigError(f"layer '{layer.name}': a recurrent layer runs on the chip as a "
                              "dense layer with no pooling in front of it; remove the pool2d "
                              "layer before it or use chip.arithmetic: float64")
        rows.append(layer_geometry(layer, prefix, below))
    g = SimpleNamespace(**{k: np.array([row[k] for row in rows], np.int64) for k in GEOMETRY})
    n_pre = g.pre_c * g.pre_h * g.pre_w
    n_in = np.array([w.shape[1] if w.ndim == 2 else w.shape[1] * w.shape[2] * w.shape[3]
                     for w in weights], np.int64)
    row_len = np.array([w.shape[0] for w in weights], np.int64)
    n_out = g.out_c * g.out_h * g.out_w
    n_map = np.where(g.conv == 1, g.pre_c * (g.pre_h // g.pool) * (g.pre_w // g.pool), n_in)
    w_off = np.concatenate([[0], np.cumsum(n_in * row_len)[:-1]]).astype(np.int64)
    n_off = np.concatenate([[0], np.cumsum(n_out)[:-1]]).astype(np.int64)
    layers = formats.layers
    fb_off = np.zeros(len(weights), np.int64)
    fb_frac = np.zeros(len(weights), np.int64)
    fb_flat, pos = [], 0
    for i, b in enumerate(feedback):  # (classes, n_i) integers for hidden layer i
        fb_off[i], fb_frac[i] = pos, formats.feedback[i].frac
        fb_flat.append(b.ravel())
        pos += b.size
    synapse_memory = np.concatenate([memory_rows(w) for w in weights]).astype(
        storage_dtype(max(lf.weight.bits for lf in formats.layers)))
    biases = list(biases) + [None] * (len(weights) - len(biases))
    has_bias = np.array([b is not None for b in biases], np.int64)
    b_len = np.where(has_bias == 1, row_len, 0)
    b_off = np.concatenate([[0], np.cumsum(b_len)[:-1]]).astype(np.int64)
    bias_memory = np.concatenate([np.zeros(0, np.int64)] + [np.asarray(b, np.int64).ravel()
                                                            for b in biases if b is not None])
    # accumulators: int32 up to 32 bits (24 by default: half the traffic of int64), never
    # narrower (an int8 or int16 type would only multiply the kernels' specializations)
    acc_type = storage_dtype(max(32, max(lf.accumulator.bits for lf in formats.layers)))
    no_bias = Format(2, 0)
    readout = layers[-1]
    classes = int(n_out[-1])
    return Memories(
        n_in, n_out, row_len, n_pre, n_map, *(getattr(g, k) for k in GEOMETRY), w_off, n_off,
        np.array([lf.spiking for lf in layers], np.int64),
        np.array([lf.delivery_shift for lf in layers], np.int64),
        np.array([lf.threshold for lf in layers], np.int64),
        np.array([lf.weight.frac for lf in layers], np.int64),
        np.array([lf.membrane.frac for lf in layers], np.int64),
        np.array([lf.surrogate_shift for lf in layers], np.int64),
        np.array([lf.update_shift for lf in layers], np.int64),
        np.array([lf.pool_shift for lf in layers], np.int64),
        fb_off, fb_frac,
        np.array([lf.weight.lo for lf in layers], np.int64),
        np.array([lf.weight.hi for lf in layers], np.int64),
        np.array([lf.membrane.lo for lf in layers], np.int64),
        np.array([lf.membrane.hi for lf in layers], np.int64),
        np.array([lf.accumulator.lo for lf in layers], np.int64),
        np.array([lf.accumulator.hi for lf in layers], np.int64),
        np.array([stream(seed, "rounding", i).integers(0, 2**63, dtype=np.uint64)
                  for i in range(len(weights))], np.uint64),
        np.array([lf.lam for lf in layers], np.int64),
        np.array([lf.firing_gt for lf in layers], np.int64),
        np.array([lf.reset_mode for lf in layers], np.int64),
        has_bias, b_off,
        np.array([lf.bias_shift for lf in layers], np.int64),
        np.array([lf.bias_update_shift for lf in layers], np.int64),
        np.array([(lf.bias or no_bias).lo for lf in layers], np.int64),
        np.array([(lf.bias or no_bias).hi for lf in layers], np.int64),
        recurrent,
        np.array([lf.syn_lam for lf in layers], np.int64),
        synapse_memory,
        np.zeros(synapse_memory.shape, acc_type) if accumulators else np.zeros(0, acc_type),
        np.concatenate(fb_flat).astype(np.int64) if fb_flat else np.zeros(0, np.int64),
        bias_memory,
        np.zeros(bias_memory.shape, acc_type) if accumulators else np.zeros(0, acc_type),
        np.zeros(0, dendrite_dtype(formats, n_pre, g.kernel_h * g.kernel_w, recurrent * n_out)),
        np.zeros(int(n_in.sum()), np.int32),
        np.concatenate([[0], np.cumsum(n_in)[:-1]]).astype(np.int64),
        surrogate_table(alpha, formats.lut_entries, formats.lut_range_log2,
                        formats.surrogate.frac, formats.surrogate.hi),
        exp_table(formats.lut_entries),
        formats.input_lam, 1 << formats.trace.frac, formats.trace.hi,
        formats.input.frac - formats.trace.frac, 1 << formats.input.frac,
        layers[0].pre.frac - formats.input.frac if recurrent[0] and not input_trace else 0,
        layers[0].pre.frac - formats.trace.frac if recurrent[0] else 0,
        formats.error.lo, formats.error.hi, formats.error.frac, formats.surrogate.frac,
        readout.membrane.frac + 4 - int(np.log2(formats.lut_entries)),
        formats.lr_mantissa, ROUNDING[rounding],
        round((1.0 - mse_weight) * 2 ** LOSS_FRAC), round(2.0 * mse_weight / classes * 2 ** LOSS_FRAC),
        np.array([POLICIES[(overflow or {}).get(v, "saturate")] for v in VARIABLES], np.int64),
        int(input_trace), int(predict_spikes),
    )

