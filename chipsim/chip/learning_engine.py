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
  accumulate        A[j, i] = sat_acc(A[j, i] + delta_i pre_j)                  (OTTT_A)
  apply_accumulators W = sat_w(W - round(m_lr A / 2^shift)); A = 0, once per batch
Rounding of weight changes follows chip.rounding; stochastic rounding draws from the core's
counter-based generator in synapse-memory order, so results do not depend on thread timing.
"""
import numba as nb
import numpy as np

from chipsim.chip import counters as ev
from chipsim.chip.fixedpoint import NEAREST, shift_round
from chipsim.chip.overflow import ACCUMULATOR, ERROR_VALUE, WEIGHT, limit


@nb.njit(cache=True, inline="always")
def surrogate(m, l, u):
    """sigma'(u - threshold) from the lookup table; 0 outside the table's range."""
    z = u - m.threshold[l]
    sh = m.surrogate_shift[l]
    entries = m.sg_lut.shape[0]
    half = entries // 2
    if sh >= 0:
        k = (z >> sh) + half
    else:
        if z >= half or z < -half:
            return 0
        k = (z << -sh) + half
    if k < 0 or k >= entries:
        return 0
    return m.sg_lut[k]


@nb.njit(cache=True, inline="always")
def modulate(m, r, l, i, e):
    """Store delta = e x sigma'(u_i - threshold) for neuron i of layer l; returns overflow 0/1."""
    g = surrogate(m, l, r.u[m.n_off[l] + i])
    d = shift_round(e * g, m.surrogate_frac, NEAREST, np.uint64(0), 0)
    dc = limit(m, r, d, m.e_lo, m.e_hi, ERROR_VALUE, l)
    r.e[m.n_off[l] + i] = dc
    return 1 if dc != d else 0


@nb.njit(cache=True)
def backward_error(m, r, l):
    """delta of layer l-1 from layer l's delta through a transposed read of W_l."""
    p = l - 1
    n, base, eoff = m.n_out[l], m.w_off[l], m.n_off[l]
    nonzero = 0
    for i in range(n):
        nonzero += r.e[eoff + i] != 0
    delta = r.e[eoff:eoff + n]
    over = messages = 0
    for j in range(m.n_out[p]):
        e = 0
        if nonzero:
            acc = 0
            row = m.weights[base + j * n:base + (j + 1) * n]
            for i in range(n):
                acc += row[i] * delta[i]
            e0 = shift_round(acc, m.weight_frac[l], NEAREST, np.uint64(0), 0)
            e = limit(m, r, e0, m.e_lo, m.e_hi, ERROR_VALUE, p)
            over += e != e0
            messages += e != 0
        over += modulate(m, r, p, j, e)
    if nonzero:
        r.counters[l, ev.ERROR_READS] += m.n_in[l] * n
        r.counters[l, ev.BACKWARD_NONZERO_ERRORS] += nonzero
    r.counters[p, ev.ERROR_MESSAGES] += messages
    r.counters[p, ev.MODULATOR_OPS] += m.n_out[p]
    r.counters[p, ev.OVERFLOW_ERROR] += over


@nb.njit(cache=True)
def broadcast_error(m, r, p):
    """delta of hidden layer p from the broadcast output error through feedback B_p."""
    layers = m.n_in.shape[0]
    ro, classes, n = m.n_off[layers - 1], m.n_out[layers - 1], m.n_out[p]
    base = m.fb_off[p]
    received = 0
    for c in range(classes):
        received += r.e[ro + c] != 0
    over = 0
    for j in range(n):
        e = 0
        if received:
            acc = 0
            for c in range(classes):
                acc += m.feedback[base + c * n + j] * r.e[ro + c]
            e0 = shift_round(acc, m.fb_frac[p], NEAREST, np.uint64(0), 0)
            e = limit(m, r, e0, m.e_lo, m.e_hi, ERROR_VALUE, p)
            over += e != e0
        over += modulate(m, r, p, j, e)
    if received:
        r.counters[p, ev.ERROR_READS] += classes * n
    r.counters[p, ev.ERROR_MESSAGES] += received
    r.counters[p, ev.MODULATOR_OPS] += n
    r.counters[p, ev.OVERFLOW_ERROR] += over


@nb.njit(cache=True, inline="always")
def count_per_neuron(r, off, delta, pre, column):
    """Each postsynaptic neuron with a nonzero delta gets one update per nonzero pre."""
    active_pre = 0
    for j in range(pre.shape[0]):
        active_pre += pre[j] != 0
    for i in range(delta.shape[0]):
        if delta[i] != 0:
            r.neuron_counts[off + i, column] += active_pre


@nb.njit(cache=True)
def update_weights(m, r, l, pre):
    """OTTT_O: read-modify-write every synapse with nonzero delta_i and pre_j."""
    n, base, eoff, sh = m.n_out[l], m.w_off[l], m.n_off[l], m.update_shift[l]
    lo, hi, key, mode = m.w_lo[l], m.w_hi[l], m.rng_key[l], m.rounding
    ctr = r.rng_ctr[l]
    delta = r.e[eoff:eoff + n]
    count_per_neuron(r, eoff, delta, pre, ev.N_WEIGHT_UPDATES)
    updates = over = 0
    for j in range(m.n_in[l]):
        pj = pre[j]
        if pj == 0:
            continue
        row = m.weights[base + j * n:base + (j + 1) * n]
        for i in range(n):
            d = delta[i]
            if d == 0:
                continue
            dw = shift_round(m.lr_mantissa * d * pj, sh, mode, key, ctr)
            ctr += 1
            w = row[i] - dw
            wc = limit(m, r, w, lo, hi, WEIGHT, l)
            over += wc != w
            row[i] = wc
            updates += 1
    r.rng_ctr[l] = ctr
    r.counters[l, ev.WEIGHT_UPDATES] += updates
    r.counters[l, ev.OVERFLOW_WEIGHT] += over


@nb.njit(cache=True)
def accumulate(m, r, l, pre):
    """OTTT_A: add delta_i pre_j into the per-synapse accumulator (nonzero pairs only)."""
    n, base, eoff = m.n_out[l], m.w_off[l], m.n_off[l]
    lo, hi = m.acc_lo[l], m.acc_hi[l]
    delta = r.e[eoff:eoff + n]
    count_per_neuron(r, eoff, delta, pre, ev.N_ACCUMULATOR_UPDATES)
    updates = over = 0
    for j in range(m.n_in[l]):
        pj = pre[j]
        if pj == 0:
            continue
        row = m.accum[base + j * n:base + (j + 1) * n]
        for i in range(n):
            d = delta[i]
            if d == 0:
                continue
            a = row[i] + d * pj
            ac = limit(m, r, a, lo, hi, ACCUMULATOR, l)
            over += ac != a
            row[i] = ac
            updates += 1
    r.counters[l, ev.ACCUMULATOR_UPDATES] += updates
    r.counters[l, ev.OVERFLOW_ACCUMULATOR] += over


@nb.njit(cache=True)
def apply_accumulators(m, r):
    """OTTT_A at the end of a batch: W -= round(m_lr A / 2^shift) where A != 0; A = 0."""
    for l in range(m.n_in.shape[0]):
        base, size, sh = m.w_off[l], m.n_in[l] * m.n_out[l], m.update_shift[l]
        lo, hi, key, mode = m.w_lo[l], m.w_hi[l], m.rng_key[l], m.rounding
        ctr = r.rng_ctr[l]
        acc = m.accum[base:base + size]
        weights = m.weights[base:base + size]
        n, off = m.n_out[l], m.n_off[l]
        updates = over = 0
        for k in range(size):
            a = acc[k]
            if a == 0:
                continue
            r.neuron_counts[off + k % n, ev.N_WEIGHT_UPDATES] += 1
            dw = shift_round(m.lr_mantissa * a, sh, mode, key, ctr)
            ctr += 1
            w = weights[k] - dw
            wc = limit(m, r, w, lo, hi, WEIGHT, l)
            over += wc != w
            weights[k] = wc
            acc[k] = 0
            updates += 1
        r.rng_ctr[l] = ctr
        r.counters[l, ev.ACCUMULATOR_READS] += size
        r.counters[l, ev.WEIGHT_UPDATES] += updates
        r.counters[l, ev.OVERFLOW_WEIGHT] += over
