"""The learning engine's hardware operations, as numba kernels a rule composes.

The engine knows nothing of any particular rule (it never imports ``rules/``): a rule's
per-step kernel calls these operations in the order it needs. Twins: ``chip.reference``.

  modulate          delta = sat_e(round_nearest(e sigma'[LUT((u - threshold) >> shift)] / 2^fs))
  backward_error    e_j = sat_e(round_nearest(sum_i W[j, i] delta_i / 2^fw)): a transposed read
                    of the next layer's synapse memory (every row, when any delta is nonzero)
  broadcast_error   e_j = sat_e(round_nearest(sum_c B[c, j] e_out_c / 2^fb)): a read of the
                    core's fixed random feedback memory
  update_weights    W[j, i] = sat_w(W[j, i] - round(m_lr delta_i pre_j / 2^shift)) for every
                    pair with nonzero delta and pre (read-modify-write; OTTT_O)
  accumulate        A[j, i] = sat_acc(A[j, i] + delta_i pre_j)                  (OTTT_A;
                    logged and added a synapse row at a time, in time order per synapse)
  update_kernel     conv: the shared kernel's change summed over output positions (a 64-bit
                    sum of delta x presynaptic patch, counted as gradient_macs), then one
                    rounded write (O) or accumulation (A) per kernel weight
  pool_pre          sums of presynaptic values over a pooling window (the 1/p^2 is a shift)
  update_bias       b_c = sat_b(b_c - round(m_lr sum(delta over channel c's neurons) / 2^shift))
                    (OTTT_O; OTTT_A adds the sum into the bias accumulator): a bias is a weight
                    whose presynaptic value is a constant 1; counted as weight (accumulator)
                    updates
  apply_accumulators W = sat_w(W - round(m_lr A / 2^shift)); A = 0, once per batch (biases too)
Rounding of weight changes follows chip.rounding; stochastic rounding draws from the core's
counter-based generator in synapse-memory order, so results do not depend on thread timing.
"""
import numba as nb
import numpy as np

from chipsim.chip import counters as ev
from chipsim.chip.fixedpoint import NEAREST, shift_round
from chipsim.chip.kernels import pooled_index
from chipsim.chip.overflow import (ACCUMULATOR, ERROR, ERROR_VALUE, SATURATE, WEIGHT, bound,
                                   note_overflow)


@nb.njit(cache=True)
def surrogate(lut, threshold, sh, u):
    """sigma'(u - threshold) from the lookup table (its index: (u - threshold) >> sh); 0
    outside the table's range."""
    z = u - threshold
    entries = lut.shape[0]
    half = entries // 2
    if sh >= 0:
        k = (z >> sh) + half
    else:  # |z| clipped first: outside [-half, half) it lands outside the table anyway
        k = (min(max(z, -half), half) << -sh) + half
    # branch free: which neurons are near the threshold is data, a branch on it mispredicts
    return lut[min(max(k, 0), entries - 1)] * ((k >= 0) & (k < entries))


# The kernels below bring values into range with ``bound`` and call ``note_overflow`` in
# their own loop bodies: a helper that takes the registers, inlined into a loop, costs a
# few hundred nanoseconds per call even when its branch is never taken.


@nb.njit(cache=True, inline="always")
def errors_to_deltas(m, r, p, any_error):
    """Layer p's errors (before saturation, in r.scratch) become deltas: saturate, multiply
    by the surrogate, saturate again. Returns (overflows, nonzero errors)."""
    mode, off, n, lo, hi = m.overflow_mode[ERROR_VALUE], m.n_off[p], m.n_out[p], m.e_lo, m.e_hi
    errors, u, deltas = r.scratch, r.u[off:off + n], r.e[off:off + n]
    lut, threshold, sh, frac = m.sg_lut, m.threshold[p], m.surrogate_shift[p], m.surrogate_frac
    over = nonzero = 0
    for j in range(n):
        e = 0
        if any_error:
            e0 = errors[j]
            e = bound(e0, lo, hi, mode)
            if e != e0:
                over += 1
                if mode == ERROR:
                    note_overflow(r, np.int64(ERROR_VALUE), p, e0)
            nonzero += e != 0
        # delta = e x sigma'(u - threshold), before saturation
        d = shift_round(e * surrogate(lut, threshold, sh, u[j]), frac, NEAREST, np.uint64(0), 0)
        dc = bound(d, lo, hi, mode)
        deltas[j] = dc
        if dc != d:
            over += 1
            if mode == ERROR:
                note_overflow(r, np.int64(ERROR_VALUE), p, d)
    return over, nonzero


@nb.njit(cache=True, inline="always")
def backward_error(m, r, l, conv):
    """delta of layer l-1 from layer l's delta through a transposed read of W_l.

    The read gives one value per row of the pooled map (dense: row f . delta; conv: the
    transposed convolution); every neuron of layer l-1 then takes its pooled row's value,
    divided by the pooling area (folded into the shift), and its surrogate. conv: the
    network has a conv layer (a constant of the caller: inlined, a dense network compiles
    no conv read)."""
    p = l - 1
    n, eoff = m.n_out[l], m.n_off[l]
    delta = r.e[eoff:eoff + n]
    nonzero = 0
    for i in range(n):
        nonzero += delta[i] != 0
    back = r.pooled[:m.n_map[l]]
    back[:] = 0
    if nonzero:
        if conv and m.conv[l]:
            reads = conv_taps(m, r, l, back, back, np.bool_(False))
        elif r.w_t_at[l, 1]:  # the transposed copy: a column per neuron, vectorized over rows
            # (a recurrent layer's own rows are not read: its error is the instantaneous one)
            rows, w_t = m.n_in[l], r.w_t[r.w_t_at[l, 0]:]
            below = rows - m.recurrent[l] * n
            for i in range(n):
                # (int32, so LLVM multiplies 32 x 32 -> 64 bits: deltas fit the error width)
                d = np.int64(np.int32(delta[i]))
                column = w_t[i * rows:i * rows + below]
                for f in range(below):
                    back[f] += column[f] * d
            reads = below * n
        else:
            base, weights = m.w_off[l], m.weights
            below = m.n_in[l] - m.recurrent[l] * n
            for f in range(below):
                acc = 0
                row = weights[base + f * n:base + (f + 1) * n]
                for i in range(n):
                    acc += row[i] * delta[i]
                back[f] = acc
            reads = below * n
        r.counters[l, ev.ERROR_READS] += reads
        r.counters[l, ev.BACKWARD_NONZERO_ERRORS] += nonzero
    shift, errors = m.weight_frac[l] + m.pool_shift[l], r.scratch
    h, w, pool = m.pre_h[l], m.pre_w[l], m.pool[l]
    for j in range(m.n_out[p]):
        f = j if pool == 1 else pooled_index(h, w, pool, j)
        errors[j] = shift_round(back[f], shift, NEAREST, np.uint64(0), 0) if f >= 0 else 0
    over, messages = errors_to_deltas(m, r, p, nonzero > 0)
    r.counters[p, ev.ERROR_MESSAGES] += messages
    r.counters[p, ev.MODULATOR_OPS] += m.n_out[p]
    r.counters[p, ev.OVERFLOW_ERROR] += over


@nb.njit(cache=True)
def conv_taps(m, r, l, pre, out, gradient):
    """Walk every (output with nonzero delta, input channel, tap) of conv layer l.

    gradient False: the backward read, out[c, py, px] += W[c, ky, kx, o] delta[o, oy, ox]
    (returns the weight reads); True: the kernel's change, out[c, ky, kx, o] += delta x
    pre[c, py, px] for nonzero pre (returns the multiply-accumulates)."""
    hp, wp = m.pre_h[l] // m.pool[l], m.pre_w[l] // m.pool[l]
    co, ho, wo = m.out_c[l], m.out_h[l], m.out_w[l]
    kh, kw, sh, sw = m.kernel_h[l], m.kernel_w[l], m.stride_h[l], m.stride_w[l]
    ph, pw = m.pad_h[l], m.pad_w[l]
    channels, base, eoff = m.pre_c[l], m.w_off[l], m.n_off[l]
    weights, deltas = m.weights, r.e
    work = 0
    for o in range(co):
        for oy in range(ho):
            for ox in range(wo):
                d = deltas[eoff + (o * ho + oy) * wo + ox]
                if d == 0:
                    continue
                for ky in range(kh):
                    py = oy * sh - ph + ky
                    if py < 0 or py >= hp:
                        continue
                    for kx in range(kw):
                        px = ox * sw - pw + kx
                        if px < 0 or px >= wp:
                            continue
                        for c in range(channels):
                            tap = ((c * kh + ky) * kw + kx) * co + o
                            at = (c * hp + py) * wp + px
                            if gradient:
                                if pre[at] != 0:
                                    out[tap] += d * pre[at]
                                    work += 1
                            else:
                                out[at] += weights[base + tap] * d
                                work += 1
    return work


@nb.njit(cache=True, inline="always")
def pool_pre(m, r, l, pre):
    """The presynaptic values as layer l's rows see them: sums over each pooling window
    (the area's division is in the update shift); without pooling, ``pre`` itself."""
    if m.pool[l] == 1:
        return pre
    pooled, h, w, pool = r.pooled_pre[:m.n_map[l]], m.pre_h[l], m.pre_w[l], m.pool[l]
    pooled[:] = 0
    for j in range(m.n_pre[l]):
        if pre[j] != 0:
            f = pooled_index(h, w, pool, j)
            if f >= 0:
                pooled[f] += pre[j]
    return pooled


@nb.njit(cache=True, inline="always")
def with_own_trace(m, r, l, pre):
    """A recurrent layer's presynaptic values: ``pre`` (from below) followed by its own
    traces of the previous step, one per recurrent row (in the pooled-pre scratch: a
    recurrent layer has no pooling in front); a first layer's in its pre format."""
    below, n, off = pre.shape[0], m.n_out[l], m.n_off[l]
    out, a_prev = r.pooled_pre[:below + n], r.a_prev
    x_shift, a_shift = (m.first_pre_shift, m.first_own_shift) if l == 0 else (0, 0)
    for j in range(below):
        out[j] = pre[j] << x_shift
    for i in range(n):
        out[below + i] = a_prev[off + i] << a_shift
    return out


@nb.njit(cache=True)
def broadcast_error(m, r, p):
    """delta of hidden layer p from the broadcast output error through feedback B_p."""
    layers = m.n_in.shape[0]
    ro, classes, n = m.n_off[layers - 1], m.n_out[layers - 1], m.n_out[p]
    base, feedback, e_out, errors, frac = m.fb_off[p], m.feedback, r.e[ro:], r.scratch, m.fb_frac[p]
    received = 0
    for c in range(classes):
        received += e_out[c] != 0
    for j in range(n):
        acc = 0
        for c in range(classes):
            acc += feedback[base + c * n + j] * e_out[c]
        errors[j] = shift_round(acc, frac, NEAREST, np.uint64(0), 0)
    over, _ = errors_to_deltas(m, r, p, received > 0)
    if received:
        r.counters[p, ev.ERROR_READS] += classes * n
    r.counters[p, ev.ERROR_MESSAGES] += received
    r.counters[p, ev.MODULATOR_OPS] += n
    r.counters[p, ev.OVERFLOW_ERROR] += over


@nb.njit(cache=True, inline="always")
def count_per_neuron(r, off, delta, pre, column):
    """Each postsynaptic neuron with a nonzero delta gets one update per nonzero pre.
    Returns (nonzero pre, nonzero delta)."""
    active_pre = nonzero_delta = 0
    for j in range(pre.shape[0]):
        active_pre += pre[j] != 0
    counts = r.neuron_counts[column, off:off + delta.shape[0]]
    for i in range(delta.shape[0]):  # branch free (vectorized)
        counts[i] += active_pre * (delta[i] != 0)
        nonzero_delta += delta[i] != 0
    return active_pre, nonzero_delta


@nb.njit(cache=True)
def update_weights(m, r, l, pre):
    """OTTT_O: read-modify-write every synapse with nonzero delta_i and pre_j (dense)."""
    n, base, eoff = m.n_out[l], m.w_off[l], m.n_off[l]
    lo, hi, mode = m.w_lo[l], m.w_hi[l], m.overflow_mode[WEIGHT]
    ctr = r.rng_ctr[l]
    delta, weights = r.e[eoff:eoff + n], m.weights
    lr, shift, rounding, key = m.lr_mantissa, m.update_shift[l], m.rounding, m.rng_key[l]
    count_per_neuron(r, eoff, delta, pre, ev.N_WEIGHT_UPDATES)
    updates = over = 0
    # the neurons with a nonzero delta, listed once (branch free; the learning engine's
    # scratch is free once the errors are deltas): the pair loop has no branch, and the
    # stochastic draws keep their order (row by row, neuron by neuron)
    listed, nonzero = r.scratch, 0
    for i in range(n):
        listed[nonzero] = i
        nonzero += delta[i] != 0
    for j in range(m.n_in[l]):
        pj = pre[j]
        if pj == 0:
            continue
        for q in range(nonzero):
            i = listed[q]
            d = delta[i]
            # the weight minus round(m_lr delta pre / 2^shift), before saturation
            w = weights[base + j * n + i] - shift_round(lr * d * pj, shift, rounding, key, ctr)
            wc = bound(w, lo, hi, mode)
            weights[base + j * n + i] = wc
            if wc != w:
                over += 1
                if mode == ERROR:
                    note_overflow(r, np.int64(WEIGHT), l, w)
            ctr += 1
            updates += 1
    r.rng_ctr[l] = ctr
    r.counters[l, ev.WEIGHT_UPDATES] += updates
    r.counters[l, ev.OVERFLOW_WEIGHT] += over


@nb.njit(cache=True)
def accumulate(m, r, l, pre):
    """OTTT_A: add delta_i pre_j into the per-synapse accumulator (nonzero pairs count).

    This step's pre and delta are logged and ``flush_accumulation`` makes the adds later, a
    synapse row at a time (up to ``depth`` steps per row while the row stays in the cache,
    instead of a pass over the active rows every step). Each synapse still receives its adds
    in time order, so the result and the overflow count, saturation and wrapping included,
    are those of adding now. Under the 'error' policy the log is flushed every step: it
    reports the first overflow in time."""
    n, eoff = m.n_out[l], m.n_off[l]
    delta = r.e[eoff:eoff + n]
    active_pre, nonzero_delta = count_per_neuron(r, eoff, delta, pre, ev.N_ACCUMULATOR_UPDATES)
    r.counters[l, ev.ACCUMULATOR_UPDATES] += active_pre * nonzero_delta
    if active_pre == 0 or nonzero_delta == 0:
        return
    at = r.log_at[l]
    depth, k, rows = at[3], at[2], pre.shape[0]
    log_pre = r.log_pre[at[0] + k * rows:at[0] + (k + 1) * rows]
    log_delta = r.log_delta[at[1] + k * n:at[1] + (k + 1) * n]
    for j in range(rows):
        log_pre[j] = pre[j]
    for i in range(n):
        log_delta[i] = delta[i]
    at[2] = k + 1
    if k + 1 == depth or m.overflow_mode[ACCUMULATOR] == ERROR:
        flush_accumulation(m, r, l)


@nb.njit(cache=True)
def flush_accumulation(m, r, l):
    """Make the adds of layer l's logged steps (see ``accumulate``), a synapse row at a time,
    and empty its log. A row that cannot leave the accumulator range whatever the order
    (its extremes plus the most the logged steps can add, sum_k |pre_k| max|delta_k|, inside
    it) takes plain adds; any other row takes the saturating adds in step order."""
    at = r.log_at[l]
    steps = at[2]
    if steps == 0:
        return
    n, lo, hi, rows = m.n_out[l], m.acc_lo[l], m.acc_hi[l], m.n_map[l]
    accum = m.accum[m.w_off[l]:m.w_off[l] + m.n_in[l] * n]
    log_pre, log_delta = r.log_pre[at[0]:at[0] + steps * rows], r.log_delta[at[1]:at[1] + steps * n]
    delta_max = np.zeros(steps, np.int64)
    for k in range(steps):
        for i in range(n):
            delta_max[k] = max(delta_max[k], abs(np.int64(log_delta[k * n + i])))
    # the log is step-major: FLUSH_BLOCK rows' columns are copied out together, one pass
    # over the log's lines per block rather than per row
    block = np.empty((FLUSH_BLOCK, steps), np.int64)
    active = np.empty(steps, np.int64)
    partial = np.empty(n, np.int16)
    for j0 in range(0, rows, FLUSH_BLOCK):
        width = min(FLUSH_BLOCK, rows - j0)
        for k in range(steps):
            for b in range(width):
                block[b, k] = log_pre[k * rows + j0 + b]
        for b in range(width):
            j, pre = j0 + b, block[b]
            reach = count = 0
            for k in range(steps):  # the steps where row j is active, branch free
                active[count] = k
                count += pre[k] != 0
                reach = min(reach + min(abs(pre[k]), REACH_CAP) * delta_max[k], REACH_CAP)
            if reach == 0:
                continue
            row = accum[j * n:(j + 1) * n]
            row_lo = row_hi = np.int64(row[0])
            for i in range(n):
                row_lo, row_hi = min(row_lo, np.int64(row[i])), max(row_hi, np.int64(row[i]))
            if row_hi + reach > hi or row_lo - reach < lo or reach > PARTIAL_MAX:
                add_rows(m, r, l, pre, log_delta, j)  # may overflow (or wide): exact order
                continue
            # the row's change fits 16 bits (|partial sums| <= reach): summed 16 lanes at a
            # time, then added once (LLVM vectorizes both; 1.6x the speed of 8-lane adds)
            for i in range(n):
                partial[i] = 0
            for q in range(count):
                k = active[q]
                pk, delta = pre[k], log_delta[k * n:(k + 1) * n]
                if pk == 1:
                    for i in range(n):
                        partial[i] += delta[i]
                else:
                    for i in range(n):
                        partial[i] += delta[i] * pk
            for i in range(n):
                row[i] += partial[i]
    at[2] = 0


FLUSH_BLOCK = 8  # rows whose log columns are copied out at once (8 int64: one cache line)
PARTIAL_MAX = 32767  # a row's change summed in int16 when it cannot exceed this
REACH_CAP = np.int64(1) << 50  # beyond every accumulator range (<= 48 bits)


@nb.njit(cache=True)
def add_rows(m, r, l, pre, deltas, j):
    """Synapse row j of layer l takes, step after step, delta_k x pre[k] (deltas: the log, a
    row per step) into its accumulators, each add brought into range; overflows counted
    (and, under 'error', recorded)."""
    n, lo, hi, mode = m.n_out[l], m.acc_lo[l], m.acc_hi[l], m.overflow_mode[ACCUMULATOR]
    row = m.accum[m.w_off[l] + j * n:m.w_off[l] + (j + 1) * n]
    over = 0
    for k in range(pre.shape[0]):
        pk = pre[k]
        if pk == 0:
            continue
        delta = deltas[k * n:(k + 1) * n]
        if mode == SATURATE:  # (no per-pair branch: LLVM vectorizes it)
            for i in range(n):
                a = row[i] + delta[i] * pk
                ac = min(max(a, lo), hi)
                over += ac != a
                row[i] = ac
        else:
            for i in range(n):
                a = row[i] + delta[i] * pk
                ac = bound(a, lo, hi, mode)
                over += ac != a
                row[i] = ac
                if mode == ERROR and ac != a:
                    note_overflow(r, np.int64(ACCUMULATOR), l, a)
    r.counters[l, ev.OVERFLOW_ACCUMULATOR] += over


@nb.njit(cache=True)
def write_changes(m, r, l, params, accum, changes, shift, lo, hi, immediate):
    """Every nonzero change g_k of a block of layer l's parameters (kernel weights or biases):
    params[k] = sat(params[k] - round(m_lr g_k / 2^shift)) now (immediate, OTTT_O), or
    accum[k] = sat_acc(accum[k] + g_k) (OTTT_A). Counted as weight (accumulator) updates;
    stochastic draws in block order. Returns the number of updates."""
    mode = m.overflow_mode[WEIGHT] if immediate else m.overflow_mode[ACCUMULATOR]
    lr, rounding, key = m.lr_mantissa, m.rounding, m.rng_key[l]
    acc_lo, acc_hi = m.acc_lo[l], m.acc_hi[l]
    ctr = r.rng_ctr[l]
    updates = over = 0
    # Branch free: a zero change rounds to 0 in every mode and leaves its word as it was
    # (in range), so only the count and the draw counter need it, and a branch on it was
    # mispredicted for about one word in five
    for k in range(changes.shape[0]):
        g = changes[k]
        nonzero = g != 0
        if immediate:
            v = params[k] - shift_round(lr * g, shift, rounding, key, ctr)
            vc = bound(v, lo, hi, mode)
            params[k] = vc
            ctr += nonzero
        else:
            v = accum[k] + g
            vc = bound(v, acc_lo, acc_hi, mode)
            accum[k] = vc
        if vc != v:
            over += 1
            if mode == ERROR:
                note_overflow(r, WEIGHT if immediate else ACCUMULATOR, l, v)
        updates += nonzero
    r.rng_ctr[l] = ctr
    if immediate:
        r.counters[l, ev.WEIGHT_UPDATES] += updates
        r.counters[l, ev.OVERFLOW_WEIGHT] += over
    else:
        r.counters[l, ev.ACCUMULATOR_UPDATES] += updates
        r.counters[l, ev.OVERFLOW_ACCUMULATOR] += over
    return updates


@nb.njit(cache=True, inline="always")
def write_accumulated(m, r, l, params, accum, shift, lo, hi):
    """OTTT_A's end-of-batch write of a block of layer l's parameters: params -= round(m_lr
    accum / 2^shift) where accum != 0 (``write_changes``), then accum = 0; a dense layer's
    block counts per neuron (index k of a block of row_len[l] columns is neuron k % row_len)."""
    if m.conv[l] == 0:
        n, off = m.row_len[l], m.n_off[l]
        counts = r.neuron_counts[ev.N_WEIGHT_UPDATES, off:off + n]
        for j in range(accum.shape[0] // n):  # rows of n neurons: no division per word
            row = accum[j * n:(j + 1) * n]
            for i in range(n):
                counts[i] += row[i] != 0
    write_changes(m, r, l, params, accum[:0], accum, shift, lo, hi, np.bool_(True))
    r.counters[l, ev.ACCUMULATOR_READS] += accum.shape[0]
    accum[:] = 0


@nb.njit(cache=True)
def update_kernel(m, r, l, pre, immediate):
    """Conv: apply (immediate, OTTT_O) or accumulate (OTTT_A) the kernel's summed change."""
    base, size = m.w_off[l], m.n_in[l] * m.row_len[l]
    r.kgrad[:size] = 0
    r.counters[l, ev.GRADIENT_MACS] += conv_taps(m, r, l, pre, r.kgrad, np.bool_(True))
    accum = m.accum[base:base + size] if not immediate else m.accum[:0]
    write_changes(m, r, l, m.weights[base:base + size], accum, r.kgrad[:size],
                  m.update_shift[l], m.w_lo[l], m.w_hi[l], immediate)


@nb.njit(cache=True)
def update_bias(m, r, l, immediate):
    """A layer's biases learn from the sum of their neurons' deltas (dense: one neuron per
    bias; conv: every position of the channel): written now (immediate, OTTT_O) or added to
    the bias accumulators (OTTT_A). Stochastic draws follow the weights' in channel order."""
    if m.has_bias[l] == 0:
        return
    plane, base, eoff, channels = m.out_h[l] * m.out_w[l], m.b_off[l], m.n_off[l], m.row_len[l]
    sums, deltas = np.zeros(channels, np.int64), r.e[eoff:]
    for c in range(channels):
        for k in range(plane):
            sums[c] += deltas[c * plane + k]
        if plane == 1 and sums[c] != 0:
            r.neuron_counts[ev.N_WEIGHT_UPDATES if immediate else ev.N_ACCUMULATOR_UPDATES,
                            eoff + c] += 1
    accum = m.bias_accum[base:base + channels] if not immediate else m.bias_accum[:0]
    write_changes(m, r, l, m.bias[base:base + channels], accum, sums, m.bias_update_shift[l],
                  m.b_lo[l], m.b_hi[l], immediate)


@nb.njit(cache=True)
def transpose_weights(m, r):
    """OTTT_A at the start of a batch: the transposed copies of the synapse memories the
    backward read uses (see Registers.w_t), current until ``apply_accumulators``."""
    for l in range(m.n_in.shape[0]):
        at = r.w_t_at[l]
        if at[0] < 0:
            continue
        rows, n, base = m.n_in[l], m.n_out[l], m.w_off[l]
        w_t, weights = r.w_t[at[0]:at[0] + rows * n], m.weights[base:base + rows * n]
        for f in range(rows):
            for i in range(n):
                w_t[i * rows + f] = weights[f * n + i]
        at[1] = 1


@nb.njit(cache=True)
def apply_accumulators(m, r):
    """OTTT_A at the end of a batch: W -= round(m_lr A / 2^shift) where A != 0; A = 0; then
    the layer's biases likewise."""
    for l in range(m.n_in.shape[0]):
        r.w_t_at[l, 1] = 0  # the weights change: the transposed copy is out of date
        flush_accumulation(m, r, l)
        base, size = m.w_off[l], m.n_in[l] * m.row_len[l]
        write_accumulated(m, r, l, m.weights[base:base + size], m.accum[base:base + size],
                          m.update_shift[l], m.w_lo[l], m.w_hi[l])
        if m.has_bias[l]:
            b, n = m.b_off[l], m.row_len[l]
            write_accumulated(m, r, l, m.bias[b:b + n], m.bias_accum[b:b + n],
                              m.bias_update_shift[l], m.b_lo[l], m.b_hi[l])
