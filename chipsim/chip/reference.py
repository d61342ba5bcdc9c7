"""Numpy twins of the chip's numba kernels: slow, vectorized, obviously correct.

Same arguments, same effects on the arrays, same counts: the tests run both on random chips
and compare every array bit for bit. Nothing here is used on a fast path.
"""
import numpy as np

from chipsim import ops
from chipsim.chip import counters as ev
from chipsim.mapping.network import Conv2d
from chipsim.chip.fixedpoint import NEAREST, shift_round_np
from chipsim.chip.overflow import (ACCUMULATOR, ERROR_VALUE, MEMBRANE, TRACE, WEIGHT,
                                   limit_np)
from chipsim.chip.formats import LAMBDA_FRAC, RESET_NEXT_STEP, RESET_SUBTRACT, RESET_ZERO


def leak(x, lam):
    return shift_round_np(np.asarray(x, np.int64) * lam, LAMBDA_FRAC, NEAREST)


def rows(m, l, memory=None):
    """Layer l's synapse memory as a (rows, row_len) view."""
    memory = m.weights if memory is None else memory
    n_in, width, base = int(m.n_in[l]), int(m.row_len[l]), int(m.w_off[l])
    return memory[base:base + n_in * width].reshape(n_in, width)


def feedforward_rows(m, l) -> int:
    """Layer l's synapse rows read by the layer below (a recurrent layer's own rows follow)."""
    return int(m.n_in[l] - m.recurrent[l] * m.n_out[l])


def layer_weights(m, l) -> np.ndarray:
    """Layer l's weights in layer layout: dense (out, in), conv (out, in, kh, kw)."""
    if m.conv[l]:
        shape = (m.pre_c[l], m.kernel_h[l], m.kernel_w[l], m.out_c[l])
        kernel = rows(m, l).reshape(shape).transpose(3, 0, 1, 2)
        return kernel.astype(np.int64)
    return rows(m, l).T.astype(np.int64)


def neurons(m, l, register):
    off, n = int(m.n_off[l]), int(m.n_out[l])
    return register[off:off + n]


def neuron_counts(m, r, l, column):
    """Layer l's per-neuron counts of one event (a view)."""
    return neurons(m, l, r.neuron_counts[column])


def pooled_index(m, l) -> np.ndarray:
    """For every presynaptic neuron of layer l, its row of the pooled map (-1: outside)."""
    c, h, w, p = (int(v[l]) for v in (m.pre_c, m.pre_h, m.pre_w, m.pool))
    ch, y, x = np.unravel_index(np.arange(c * h * w), (c, h, w))
    py, px = y // p, x // p
    inside = (py < h // p) & (px < w // p)
    return np.where(inside, (ch * (h // p) + py) * (w // p) + px, -1)


def conv_of(m, l, channels_in=None, channels_out=None):
    """The conv of layer l over its pooled map, as chipsim.ops describes it."""
    c, h, w, p = (int(v[l]) for v in (m.pre_c, m.pre_h, m.pre_w, m.pool))
    return Conv2d("k", (channels_in or c, h // p, w // p), channels_out or int(m.out_c[l]),
                  (int(m.kernel_h[l]), int(m.kernel_w[l])),
                  (int(m.stride_h[l]), int(m.stride_w[l])), (int(m.pad_h[l]), int(m.pad_w[l])))


def pool_pre(m, r, l, pre):
    """Sums of presynaptic values over each pooling window (the twin of the kernel)."""
    if m.pool[l] == 1:
        return pre
    f = pooled_index(m, l)
    pooled = np.zeros(int(m.n_map[l]), np.int64)
    np.add.at(pooled, f[f >= 0], pre[f >= 0])
    return pooled


def deliver(m, r, l, pre, effective):
    n = int(m.n_out[l])
    nonzero = np.count_nonzero(rows(m, l), axis=1)  # each synapse row's nonzero weights
    if m.conv[l]:
        pooled = pool_pre(m, r, l, np.asarray(pre, np.int64))
        conv = conv_of(m, l)
        d = ops.forward(conv, layer_weights(m, l), pooled[None])[0]
        # rows read: one kernel row per (input spike, tap landing on the output map)
        one = conv_of(m, l, 1, 1)
        taps = ops.transpose(one, np.ones((1, 1, *one.kernel), np.int64),
                             np.ones((1, one.n_out), np.int64))[0]
        f = pooled_index(m, l)
        spiking = (np.asarray(pre) != 0) & (f >= 0)
        rows_read = int(taps[f[spiking] % len(taps)].sum())  # taps per position of a plane
        width = int(m.row_len[l])
        # row (c, ky, kx) is read for an input of channel c whose tap (ky, kx) lands on the map
        kh, kw = one.kernel
        channel, position = np.divmod(f[spiking], len(taps))
        words = 0
        for t in range(kh * kw):
            tap = np.zeros((1, 1, kh, kw), np.int64)
            tap.flat[t] = 1
            lands = ops.transpose(one, tap, np.ones((1, one.n_out), np.int64))[0]
            words += int((lands[position] * nonzero[channel * kh * kw + t]).sum())
    else:
        f = pooled_index(m, l)
        active = np.flatnonzero((np.asarray(pre) != 0) & (f >= 0))
        d = (rows(m, l)[f[active]].astype(np.int64)
             * np.asarray(pre, np.int64)[active, None]).sum(axis=0)
        rows_read, width = len(active), n
        words = int(nonzero[f[active]].sum())
        if m.recurrent[l]:  # the rows of the layer's own spikes of the last step
            own = int(m.n_in[l]) - n + np.flatnonzero(neurons(m, l, r.s))
            one = 1 if l > 0 else int(m.input_one)  # a spike in the units of its inputs
            d = d + rows(m, l)[own].astype(np.int64).sum(axis=0) * one
            rows_read += len(own)
            words += int(nonzero[own].sum())
            r.counters[l, ev.RECURRENT_ROWS_READ] += len(own)
    r.dendrite[:n] = d
    # the senders' events (layer 0: the inputs', in the columns after the last neuron),
    # counted where they are delivered, as the kernel does
    first = int(m.n_off[l - 1]) if l > 0 else r.neuron_counts.shape[1] - int(m.n_pre[0])
    r.neuron_counts[ev.N_SPIKES, first:first + int(m.n_pre[l])] += np.asarray(pre) != 0
    r.counters[l, ev.SYNAPSE_ROWS_READ] += rows_read
    r.counters[l, ev.SYNAPTIC_OPS] += rows_read * width
    if effective:
        r.counters[l, ev.EFFECTIVE_SYNAPTIC_OPS] += words


def bias_current(m, l):
    """Every neuron's bias in membrane LSB (zeros without one)."""
    n = int(m.n_out[l])
    if not m.has_bias[l]:
        return np.zeros(n, np.int64)
    plane = int(m.out_h[l] * m.out_w[l])
    b = m.bias[int(m.b_off[l]) + np.arange(n) // plane]
    sh = int(m.bias_shift[l])
    return shift_round_np(b, sh, NEAREST) if sh >= 0 else b << -sh


def neuron_update(m, r, l):
    n = int(m.n_out[l])
    cur = shift_round_np(r.dendrite[:n], int(m.delivery_shift[l]), NEAREST) + bias_current(m, l)
    lo, hi = int(m.v_lo[l]), int(m.v_hi[l])
    if not m.spiking[l]:
        o, over = limit_np(m, r, cur, lo, hi, MEMBRANE, l)
        neurons(m, l, r.u)[:] = o
        active = np.count_nonzero(cur)
        neuron_counts(m, r, l, ev.N_ACTIVE)[:] += cur != 0
    else:
        if m.syn_lam[l]:  # a CUBA neuron charges with its synaptic current (saturating)
            c = leak(neurons(m, l, r.i_syn), m.syn_lam[l]) + cur
            syn_over = int(np.count_nonzero((c < lo) | (c > hi)))
            cur = np.clip(c, lo, hi)
            neurons(m, l, r.i_syn)[:] = cur
        else:
            syn_over = 0
        v, thr, mode = neurons(m, l, r.v), int(m.threshold[l]), int(m.reset_mode[l])
        s_prev = neurons(m, l, r.s)
        pending = (s_prev != 0) if mode == RESET_NEXT_STEP else np.zeros(n, bool)
        is_active = (cur != 0) | (v != 0) | pending
        active = np.count_nonzero(is_active)
        neuron_counts(m, r, l, ev.N_ACTIVE)[:] += is_active
        u, over = limit_np(m, r, leak(v, m.lam[l]) + cur - thr * pending, lo, hi, MEMBRANE, l)
        over += syn_over
        s = ((u > thr) if m.firing_gt[l] else (u >= thr)).astype(np.int64)
        changed = (u != neurons(m, l, r.u)) | (r.clock[1] == 0)
        r.counters[l, ev.MEMBRANE_CHANGES] += int(changed.sum())
        neurons(m, l, r.u)[:] = u
        neurons(m, l, r.s)[:] = s
        after = {RESET_SUBTRACT: u - thr, RESET_ZERO: 0, RESET_NEXT_STEP: u}[mode]
        v[:] = np.where(s == 1, after, u)
        r.counters[l, ev.SPIKES] += int(s.sum())
        if l == len(m.n_in) - 1:  # delivered nowhere: counted here
            neuron_counts(m, r, l, ev.N_SPIKES)[:] += s
    r.counters[l, ev.NEURON_UPDATES] += n
    r.counters[l, ev.ACTIVE_NEURON_UPDATES] += active
    r.counters[l, ev.OVERFLOW_MEMBRANE] += over


def trace_update(m, r, l):
    a = neurons(m, l, r.a)
    a[:], over = limit_np(m, r, leak(a, m.lam[l]) + neurons(m, l, r.s) * m.trace_one, 0,
                          m.trace_hi, TRACE, l)
    core = l + 1 if l + 1 < len(m.n_in) else l
    r.counters[core, ev.TRACE_UPDATES] += int(m.n_out[l])
    r.counters[core, ev.OVERFLOW_TRACE] += over
    if m.recurrent[l]:
        r.counters[l, ev.TRACE_UPDATES] += int(m.n_out[l])


def input_trace_update(m, r):
    sh = m.in_to_trace_shift
    add = shift_round_np(r.x_pre, sh, NEAREST) if sh >= 0 else r.x_pre << -sh
    r.a_in[:], over = limit_np(m, r, leak(r.a_in, m.lam_in) + add, 0, m.trace_hi, TRACE, 0)
    r.counters[0, ev.TRACE_UPDATES] += int(m.n_pre[0])
    r.counters[0, ev.OVERFLOW_TRACE] += over


def forward_step(m, r, train):
    if train and m.input_trace:
        input_trace_update(m, r)
    for l in range(len(m.n_in)):
        deliver(m, r, l, r.x_pre if l == 0 else neurons(m, l - 1, r.s), not train)
        neuron_update(m, r, l)
        if train and m.spiking[l] and l + 1 < len(m.n_in):  # an output layer feeds no trace
            if m.recurrent[l]:
                neurons(m, l, r.a_prev)[:] = neurons(m, l, r.a)
            trace_update(m, r, l)


def reset_state(r):
    for reg in (r.v, r.u, r.s, r.a, r.e, r.a_in, r.i_syn):
        reg[:] = 0


def infer_sample(m, r, x, rec_spikes, rec_membrane, rec_output):
    total = np.zeros(int(m.n_out[-1]), np.int64)
    reset_state(r)
    for t in range(x.shape[0]):
        r.clock[1] = t
        r.x_pre[:] = x[t]
        forward_step(m, r, False)
        total += neurons(m, len(m.n_in) - 1, r.s if m.predict_spikes else r.u)
        if rec_output.shape[0] > 0:
            rec_output[t, :] = neurons(m, len(m.n_in) - 1, r.u)
        if rec_spikes.shape[0] > 0:
            rec_spikes[t, :] = r.s
        if rec_membrane.shape[0] > 0:
            rec_membrane[t, :] = r.u
    return int(np.argmax(total))


# ----------------------------------------------------------------------------- learning engine
def surrogate(m, l, u):
    z = np.asarray(u, np.int64) - m.threshold[l]
    sh, entries = int(m.surrogate_shift[l]), len(m.sg_lut)
    half = entries // 2
    if sh >= 0:
        k = (z >> sh) + half
    else:
        inside = (z < half) & (z >= -half)
        k = np.where(inside, (np.where(inside, z, 0) << -sh) + half, -1)
    ok = (k >= 0) & (k < entries)
    return np.where(ok, m.sg_lut[np.clip(k, 0, entries - 1)], 0)


def modulate(m, r, l, e):
    """delta = sat(e sigma'(u - threshold)) for all neurons of layer l; returns overflows."""
    d = shift_round_np(e * surrogate(m, l, neurons(m, l, r.u)), int(m.surrogate_frac), NEAREST)
    neurons(m, l, r.e)[:], over = limit_np(m, r, d, m.e_lo, m.e_hi, ERROR_VALUE, l)
    return over


def backward_error(m, r, l):
    p = l - 1
    delta = neurons(m, l, r.e)
    over = messages = 0
    if np.any(delta):
        if m.conv[l]:
            conv = conv_of(m, l)
            back = ops.transpose(conv, layer_weights(m, l), delta[None])[0]
            one = conv_of(m, l, 1, 1)
            taps = ops.forward(one, np.ones((1, 1, *one.kernel), np.int64),
                               np.ones((1, one.n_in), np.int64))[0]
            per_channel = (delta.reshape(int(m.out_c[l]), -1) != 0) * taps
            reads = int(per_channel.sum()) * int(m.pre_c[l])
        else:  # (a recurrent layer's own rows carry no error down: instantaneous error)
            back = rows(m, l)[:feedforward_rows(m, l)] @ delta
            reads = int(feedforward_rows(m, l) * m.n_out[l])
        f = pooled_index(m, l)
        e0 = shift_round_np(np.where(f >= 0, back[np.maximum(f, 0)], 0),
                            int(m.weight_frac[l] + m.pool_shift[l]), NEAREST)
        e, over = limit_np(m, r, e0, m.e_lo, m.e_hi, ERROR_VALUE, p)
        messages = np.count_nonzero(e)
        r.counters[l, ev.ERROR_READS] += reads
        r.counters[l, ev.BACKWARD_NONZERO_ERRORS] += np.count_nonzero(delta)
    else:
        e0 = e = np.zeros(int(m.n_out[p]), np.int64)
    r.scratch[:len(e0)] = e0  # the kernel keeps the unsaturated errors there
    over += modulate(m, r, p, e)
    r.counters[p, ev.ERROR_MESSAGES] += messages
    r.counters[p, ev.MODULATOR_OPS] += int(m.n_out[p])
    r.counters[p, ev.OVERFLOW_ERROR] += over


def broadcast_error(m, r, p):
    layers = len(m.n_in)
    e_out = neurons(m, layers - 1, r.e)
    classes, n = int(m.n_out[-1]), int(m.n_out[p])
    feedback = m.feedback[int(m.fb_off[p]):int(m.fb_off[p]) + classes * n].reshape(classes, n)
    over, received = 0, np.count_nonzero(e_out)
    e0 = shift_round_np(e_out @ feedback, int(m.fb_frac[p]), NEAREST)
    r.scratch[:n] = e0  # the kernel keeps the unsaturated errors there
    if received:
        e, over = limit_np(m, r, e0, m.e_lo, m.e_hi, ERROR_VALUE, p)
        r.counters[p, ev.ERROR_READS] += classes * n
    else:
        e = np.zeros(n, np.int64)
    over += modulate(m, r, p, e)
    r.counters[p, ev.ERROR_MESSAGES] += received
    r.counters[p, ev.MODULATOR_OPS] += n
    r.counters[p, ev.OVERFLOW_ERROR] += over


def _draws(r, l, n):
    """The counters of the next n draws of core l's generator (and advance it)."""
    ctr = int(r.rng_ctr[l])
    r.rng_ctr[l] = ctr + n
    return np.arange(ctr, ctr + n, dtype=np.int64)


def _rounded_changes(m, r, l, products):
    """round(m_lr x products / 2^shift) per chip.rounding; stochastic draws in memory order."""
    return shift_round_np(m.lr_mantissa * products, int(m.update_shift[l]), int(m.rounding),
                          m.rng_key[l], _draws(r, l, len(products)))


def write_changes(m, r, l, params, accum, changes, shift, lo, hi, immediate):
    """Twin of the engine's block write: nonzero changes into params (rounded, saturated)
    or into accum (saturated), counted; stochastic draws in block order."""
    changes = np.asarray(changes, np.int64)  # accumulators may be stored narrower
    mask = changes != 0
    if immediate:
        d = shift_round_np(m.lr_mantissa * changes[mask], int(shift), int(m.rounding),
                           m.rng_key[l], _draws(r, l, int(mask.sum())))
        params[mask], over = limit_np(m, r, params[mask] - d, int(lo), int(hi), WEIGHT, l)
        r.counters[l, ev.WEIGHT_UPDATES] += int(mask.sum())
        r.counters[l, ev.OVERFLOW_WEIGHT] += over
    else:
        accum[mask], over = limit_np(m, r, accum[mask] + changes[mask], int(m.acc_lo[l]),
                                     int(m.acc_hi[l]), ACCUMULATOR, l)
        r.counters[l, ev.ACCUMULATOR_UPDATES] += int(mask.sum())
        r.counters[l, ev.OVERFLOW_ACCUMULATOR] += over


def write_accumulated(m, r, l, params, accum, shift, lo, hi):
    """Twin of the end-of-batch write of a block: params -= round(m_lr accum), accum = 0;
    a dense layer's block counts per neuron (column k % row_len)."""
    if not m.conv[l]:
        n = int(m.row_len[l])
        neuron_counts(m, r, l, ev.N_WEIGHT_UPDATES)[:] += (
            (accum != 0).reshape(-1, n).sum(axis=0))
    write_changes(m, r, l, params, None, accum, shift, lo, hi, True)
    r.counters[l, ev.ACCUMULATOR_READS] += len(accum)
    accum[:] = 0


def update_kernel(m, r, l, pre, immediate):
    """Conv twin: the kernel's change summed over positions, then per kernel weight."""
    conv, delta = conv_of(m, l), neurons(m, l, r.e)
    grad = ops.weight_grad(conv, delta[None], np.asarray(pre, np.int64)[None])
    macs = int(ops.weight_grad(conv, (delta != 0)[None].astype(np.int64),
                               (np.asarray(pre) != 0)[None].astype(np.int64)).sum())
    flat = grad.transpose(1, 2, 3, 0).ravel()  # memory order: (c, ky, kx, o)
    base, size = int(m.w_off[l]), len(flat)
    write_changes(m, r, l, m.weights[base:base + size], m.accum[base:base + size], flat,
                  m.update_shift[l], m.w_lo[l], m.w_hi[l], immediate)
    r.counters[l, ev.GRADIENT_MACS] += macs


def update_weights(m, r, l, pre):
    w = rows(m, l)
    delta = neurons(m, l, r.e)
    mask = np.outer(pre != 0, delta != 0)
    neuron_counts(m, r, l, ev.N_WEIGHT_UPDATES)[:] += mask.sum(axis=0)
    dw = _rounded_changes(m, r, l, np.outer(pre, delta)[mask])
    w[mask], over = limit_np(m, r, w[mask] - dw, int(m.w_lo[l]), int(m.w_hi[l]), WEIGHT, l)
    r.counters[l, ev.WEIGHT_UPDATES] += int(mask.sum())
    r.counters[l, ev.OVERFLOW_WEIGHT] += over


def accumulate(m, r, l, pre):
    acc = rows(m, l, m.accum)
    delta = neurons(m, l, r.e)
    mask = np.outer(pre != 0, delta != 0)
    neuron_counts(m, r, l, ev.N_ACCUMULATOR_UPDATES)[:] += mask.sum(axis=0)
    acc[mask], over = limit_np(m, r, acc[mask] + np.outer(pre, delta)[mask],
                               int(m.acc_lo[l]), int(m.acc_hi[l]), ACCUMULATOR, l)
    r.counters[l, ev.ACCUMULATOR_UPDATES] += int(mask.sum())
    r.counters[l, ev.OVERFLOW_ACCUMULATOR] += over


def update_bias(m, r, l, immediate):
    if not m.has_bias[l]:
        return
    channels, plane, base = int(m.row_len[l]), int(m.out_h[l] * m.out_w[l]), int(m.b_off[l])
    sums = neurons(m, l, r.e).reshape(channels, plane).sum(axis=1)
    column = ev.N_WEIGHT_UPDATES if immediate else ev.N_ACCUMULATOR_UPDATES
    if plane == 1:
        neuron_counts(m, r, l, column)[:] += sums != 0
    write_changes(m, r, l, m.bias[base:base + channels], m.bias_accum[base:base + channels],
                  sums, m.bias_update_shift[l], m.b_lo[l], m.b_hi[l], immediate)


def apply_accumulators(m, r):
    for l in range(len(m.n_in)):
        base, size = int(m.w_off[l]), int(m.n_in[l] * m.row_len[l])
        write_accumulated(m, r, l, m.weights[base:base + size], m.accum[base:base + size],
                          m.update_shift[l], m.w_lo[l], m.w_hi[l])
        if m.has_bias[l]:
            b, n = int(m.b_off[l]), int(m.row_len[l])
            write_accumulated(m, r, l, m.bias[b:b + n], m.bias_accum[b:b + n],
                              m.bias_update_shift[l], m.b_lo[l], m.b_hi[l])
