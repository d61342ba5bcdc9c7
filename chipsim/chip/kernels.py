"""Numba kernels of the chip's forward phases and the per-sample driver.

Each kernel handles one layer (one core) for one time step and takes plain arrays grouped in
``Memories`` (m) and ``Registers`` (r), passed as structs (``arrays.kernel_view``). Their
numpy twins are in ``chip.reference``; the tests compare the two bit for bit. Counting is per
active row or per layer, never per synapse, so counters cost nothing in the inner loops.

Forward arithmetic (all integers; see ``chip.formats`` for units):
  delivery   d_i = sum over axons j with payload p_j != 0 of W[j, i] p_j   (event driven)
  current    c_i = round_nearest(d_i / 2^delivery_shift) (+ bias); a CUBA neuron's synaptic
             current instead, c_i = i_i = sat_v(leak_syn(i_i) + c_i)
  charge     u_i = sat_v(leak(v_i) + c_i)
             leak(v) = (v lam + 2^15) >> 16      (lambda = 0.5: a 1-bit shift, half up)
             (+ the neuron's bias in membrane LSB; per layer lambda; reset 'next step':
             - threshold s_i[t-1] after the leak)
  fire       s_i = u_i >= threshold (a tie fires), or u_i > threshold, per layer
  reset      v_i = u_i - threshold s_i, or u_i (1 - s_i) for reset 'zero', or u_i (next step)
  trace      a_i = sat_a(leak(a_i) + s_i 2^trace_frac)
  read-out   o_i = sat_v(round_nearest(d_i / 2^delivery_shift) + bias), no state
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numba as nb
import numpy as np

from chipsim.chip import counters as ev
from chipsim.chip.arrays import count_row_nonzeros, has_conv, kernel_view, new_registers
from chipsim.chip.fixedpoint import NEAREST, shift_round
from chipsim.chip.overflow import ERROR, MEMBRANE, SATURATE, TRACE, bound, note_overflow
from chipsim.chip.formats import LAMBDA_FRAC, RESET_NEXT_STEP, RESET_SUBTRACT, RESET_ZERO


@nb.njit(cache=True)
def leak(x, lam):
    """x lambda, lambda an unsigned LAMBDA_FRAC-bit fraction; round half up."""
    return shift_round(x * lam, LAMBDA_FRAC, NEAREST, np.uint64(0), 0)


@nb.njit(cache=True)
def pooled_index(h, w, p, j):
    """Index in a layer's pooled map of presynaptic neuron j (-1: outside the pooled area) of
    a (C, h, w) map pooled p x p. (Scalars: an array argument costs two atomic reference
    counts per call, the most of a call made per neuron.)"""
    if p == 1:
        return j
    c, rest = j // (h * w), j % (h * w)
    py, px = (rest // w) // p, (rest % w) // p
    hp, wp = h // p, w // p
    if py >= hp or px >= wp:
        return -1
    return (c * hp + py) * wp + px


@nb.njit(cache=True, inline="always")
def list_active(r, pre, n):
    """Indices of the nonzero values among pre[:n] into r.active (branch free); returns how
    many: the spike list the next core's rows are read by."""
    active, k = r.active, 0
    for j in range(n):
        active[k] = j
        k += pre[j] != 0
    return k


@nb.njit(cache=True, inline="always")
def sender_counts(m, r, l):
    """The per-neuron spike counts of the neurons (layer 0: the inputs, in the columns after
    the last neuron) whose events layer l receives. A spike is counted where it is delivered,
    as its row is listed: one increment per event, not one per neuron and step (that pass
    over every neuron cost 8 % of inference); the last layer's spikes, delivered nowhere, are
    counted by neuron_update."""
    spikes = r.neuron_counts[ev.N_SPIKES]
    first = m.n_off[l - 1] if l > 0 else spikes.shape[0] - m.n_pre[0]
    return spikes[first:first + m.n_pre[l]]


@nb.njit(cache=True)
def deliver(m, r, l, pre, effective):
    """Phase 1, spike delivery into a dense layer: every input with a nonzero payload reads
    its synapse row (pooling in front maps the input to its pooled row), added whole into
    the dendrite accumulators; a recurrent layer then reads the row of each of its own
    neurons that spiked at the last step (r.s still holds those spikes). effective: count the rows' nonzero weights too (inference:
    row_nnz is current)."""
    n, base, weights, active = m.n_out[l], m.w_off[l], m.weights, r.active
    h, w, pool = m.pre_h[l], m.pre_w[l], m.pool[l]
    nnz = m.row_nnz[m.nnz_off[l]:]
    d = r.dendrite[:n]
    d[:] = 0
    rows = nonzero = 0
    sent = sender_counts(m, r, l)
    for q in range(list_active(r, pre, m.n_pre[l])):
        j = active[q]
        sent[j] += 1
        f = j if pool == 1 else pooled_index(h, w, pool, j)
        if f < 0:
            continue
        # a row as a slice: indexing the flat memory with computed offsets keeps LLVM from
        # vectorizing the row loop (it cannot prove the index non-negative), a 4x slowdown
        row = weights[base + f * n:base + (f + 1) * n]
        p = pre[j]
        if p == 1:  # a binary spike adds its weights: no multiplier used
            for i in range(n):
                d[i] += row[i]
        else:       # a graded spike multiplies its payload in
            for i in range(n):
                d[i] += row[i] * p
        rows += 1
        nonzero += nnz[f]
    if m.recurrent[l]:  # then the rows of the layer's own spikes of the last step
        own, first = r.s[m.n_off[l]:m.n_off[l] + n], m.n_in[l] - n
        recurrent = list_active(r, own, n)
        one = 1 if l > 0 else m.input_one  # a spike in the units of the layer's inputs
        for q in range(recurrent):
            f = first + active[q]
            row = weights[base + f * n:base + (f + 1) * n]
            if one == 1:
                for i in range(n):
                    d[i] += row[i]
            else:
                for i in range(n):
                    d[i] += row[i] * one
            nonzero += nnz[f]
        rows += recurrent
        r.counters[l, ev.RECURRENT_ROWS_READ] += recurrent
    r.counters[l, ev.SYNAPSE_ROWS_READ] += rows
    r.counters[l, ev.SYNAPTIC_OPS] += rows * n
    if effective:
        r.counters[l, ev.EFFECTIVE_SYNAPTIC_OPS] += nonzero


@nb.njit(cache=True)
def deliver_conv(m, r, l, pre, effective):
    """Phase 1 into a conv layer: every input with a nonzero payload reads one kernel row per
    tap whose output lies on the map; d[o, oy, ox] += W[c, ky, kx, o] x payload."""
    h, w, p = m.pre_h[l], m.pre_w[l], m.pool[l]
    co, ho, wo = m.out_c[l], m.out_h[l], m.out_w[l]
    kh, kw, sh, sw = m.kernel_h[l], m.kernel_w[l], m.stride_h[l], m.stride_w[l]
    ph, pw = m.pad_h[l], m.pad_w[l]
    hp, wp = h // p, w // p
    base, plane, weights, active = m.w_off[l], ho * wo, m.weights, r.active
    nnz = m.row_nnz[m.nnz_off[l]:]
    d = r.dendrite[:m.n_out[l]]
    d[:] = 0
    rows = nonzero = 0
    sent = sender_counts(m, r, l)
    for q in range(list_active(r, pre, m.n_pre[l])):
        j = active[q]
        sent[j] += 1
        v = pre[j]
        c, rest = j // (h * w), j % (h * w)
        py, px = (rest // w) // p, (rest % w) // p
        if py >= hp or px >= wp:
            continue
        for ky in range(kh):
            num_y = py + ph - ky
            if num_y < 0 or num_y % sh != 0 or num_y // sh >= ho:
                continue
            for kx in range(kw):
                num_x = px + pw - kx
                if num_x < 0 or num_x % sw != 0 or num_x // sw >= wo:
                    continue
                at = (num_y // sh) * wo + num_x // sw
                tap = (c * kh + ky) * kw + kx
                row = weights[base + tap * co:base + (tap + 1) * co]
                for o in range(co):
                    d[o * plane + at] += row[o] * v
                rows += 1
                nonzero += nnz[tap]
    r.counters[l, ev.SYNAPSE_ROWS_READ] += rows
    r.counters[l, ev.SYNAPTIC_OPS] += rows * co
    if effective:
        r.counters[l, ev.EFFECTIVE_SYNAPTIC_OPS] += nonzero


@nb.njit(cache=True)
def bias_current(b, sh):
    """A stored bias b in membrane LSB: shifted by sh (the membrane's fraction less the
    bias's), rounded to nearest."""
    return shift_round(b, sh, NEAREST, np.uint64(0), 0) if sh >= 0 else b << -sh


@nb.njit(cache=True)
def neuron_update(m, r, l):
    """Phase 2: charge, fire and reset every neuron of layer l (read-out: output only).

    Charge u = leak(v) + current (+ bias); with the reset at the next step, last step's
    spike subtracts the threshold after the leak (snnTorch). Fire on u >= threshold (or
    u > threshold); reset: subtract, zero, or (next step) keep u. The passes over the neurons
    have no data-dependent branch (fire and reset are arithmetic on the spike bit): a spike
    is a coin flip the branch predictor would lose."""
    n, off, shift = m.n_out[l], m.n_off[l], m.delivery_shift[l]
    lo, hi = m.v_lo[l], m.v_hi[l]
    nc = r.neuron_counts
    mode = m.overflow_mode[MEMBRANE]
    active = over = spikes = changed = 0
    bias_on, bias, bias_sh = m.has_bias[l], m.bias[m.b_off[l]:], m.bias_shift[l]
    plane = m.out_h[l] * m.out_w[l]  # neurons per bias (dense: 1)
    d, u_reg, charge = r.dendrite, r.u[off:off + n], r.charge
    # each neuron's bias current goes to the charge scratch first (zero without a bias): the
    # bias's branch and division inside the charge loop kept LLVM from vectorizing it (3x
    # slower, with or without a bias)
    for i in range(n):
        charge[i] = bias_current(bias[i // plane], bias_sh) if bias_on else 0
    if m.spiking[l] == 0:
        for i in range(n):
            cur = shift_round(np.int64(d[i]), shift, NEAREST, np.uint64(0), 0) + charge[i]
            o = bound(cur, lo, hi, mode)
            if o != cur:
                over += 1
                if mode == ERROR:
                    note_overflow(r, np.int64(MEMBRANE), l, cur)
            active += cur != 0
            nc[ev.N_ACTIVE, off + i] += cur != 0
            u_reg[i] = o
    else:
        thr, lam = m.threshold[l], m.lam[l]
        fire_at = thr + m.firing_gt[l]           # integers: u > thr is u >= thr + 1
        reset = m.reset_mode[l]
        sub = thr if reset == RESET_SUBTRACT else 0
        zero = 1 if reset == RESET_ZERO else 0
        next_step = reset == RESET_NEXT_STEP
        # charge, policy, fire: separate passes, so that the two over every neuron have no
        # call and no data-dependent branch (LLVM vectorizes them; one loop with the policy's
        # branch runs 1.6x slower)
        # u before the policy goes to the int64 charge scratch: the registers are narrower
        s_reg, v_reg = r.s[off:off + n], r.v[off:off + n]
        n_act = nc[ev.N_ACTIVE, off:off + n]
        first = r.clock[1] == 0
        syn_lam = m.syn_lam[l]
        cuba = syn_lam != 0  # (loop-invariant: LLVM versions the loop on it)
        i_syn = r.i_syn[off:off + n] if cuba else r.i_syn[:0]
        for i in range(n):  # charge
            cur = shift_round(np.int64(d[i]), shift, NEAREST, np.uint64(0), 0) + charge[i]
            if cuba:  # the synaptic current decays and integrates; its register saturates
                c = leak(np.int64(i_syn[i]), syn_lam) + cur
                over += (c < lo) | (c > hi)
                cur = min(max(c, lo), hi)
                i_syn[i] = cur
            v = v_reg[i]
            pending = next_step & (s_reg[i] != 0)
            is_active = (cur != 0) | (v != 0) | pending
            active += is_active
            n_act[i] += is_active
            u = leak(v, lam) + cur - thr * pending
            over += (u < lo) | (u > hi)
            charge[i] = u
        if over and mode != SATURATE:  # wrap or error: rare, off the fast path
            for i in range(n):
                u = charge[i]
                charge[i] = bound(u, lo, hi, mode)
                if mode == ERROR and charge[i] != u:
                    note_overflow(r, np.int64(MEMBRANE), l, u)
        for i in range(n):  # saturate (a no-op after the other policies), fire, reset
            uc = min(max(charge[i], lo), hi)
            fired = np.int64(uc >= fire_at)
            changed += (uc != u_reg[i]) | first
            u_reg[i] = uc
            s_reg[i] = fired
            spikes += fired
            v_reg[i] = (uc - sub * fired) * (1 - zero * fired)  # next step: u stays (sub = 0)
        if l == m.n_in.shape[0] - 1:  # no layer receives these spikes: counted here
            n_spk = nc[ev.N_SPIKES, off:off + n]
            for i in range(n):
                n_spk[i] += s_reg[i]
    r.counters[l, ev.NEURON_UPDATES] += n
    r.counters[l, ev.ACTIVE_NEURON_UPDATES] += active
    r.counters[l, ev.SPIKES] += spikes
    r.counters[l, ev.OVERFLOW_MEMBRANE] += over
    r.counters[l, ev.MEMBRANE_CHANGES] += changed


@nb.njit(cache=True, inline="always")
def trace_update(m, r, l):
    """Phase 3: the presynaptic traces of layer l's spikes, held by the next core's axons."""
    n, off, mode, lam = m.n_out[l], m.n_off[l], m.overflow_mode[TRACE], m.lam[l]
    one, hi, trace, spikes = m.trace_one, m.trace_hi, r.a[off:off + n], r.s[off:off + n]
    over = 0
    for i in range(n):
        a = leak(trace[i], lam) + spikes[i] * one
        ac = bound(a, 0, hi, mode)
        if ac != a:
            over += 1
            if mode == ERROR:
                note_overflow(r, np.int64(TRACE), l, a)
        trace[i] = ac
    core = l + 1 if l + 1 < m.n_in.shape[0] else l
    r.counters[core, ev.TRACE_UPDATES] += n
    r.counters[core, ev.OVERFLOW_TRACE] += over
    if m.recurrent[l]:  # the layer's own recurrent axons hold a copy
        r.counters[l, ev.TRACE_UPDATES] += n


@nb.njit(cache=True, inline="always")
def input_trace_update(m, r):
    """Phase 3 for the input axons of layer 1 (input_trace: true): a = leak(a) + x."""
    sh, mode, lam, hi = m.in_to_trace_shift, m.overflow_mode[TRACE], m.lam_in, m.trace_hi
    x_pre, trace = r.x_pre, r.a_in
    over = 0
    for j in range(m.n_pre[0]):
        x = x_pre[j]
        add = shift_round(x, sh, NEAREST, np.uint64(0), 0) if sh >= 0 else x << -sh
        a = leak(trace[j], lam) + add
        ac = bound(a, 0, hi, mode)
        if ac != a:
            over += 1
            if mode == ERROR:
                note_overflow(r, np.int64(TRACE), np.int64(0), a)
        trace[j] = ac
    r.counters[0, ev.TRACE_UPDATES] += m.n_pre[0]
    r.counters[0, ev.OVERFLOW_TRACE] += over


@nb.njit(cache=True, inline="always")
def reset_state(r):
    """Between samples the chip clears neuron, trace and error registers."""
    r.v[:] = 0
    r.u[:] = 0
    r.s[:] = 0
    r.a[:] = 0
    r.i_syn[:] = 0
    r.e[:] = 0
    r.a_in[:] = 0


# Flags and constants passed between kernels are wrapped (np.bool_(True), np.int64(0)): numba
# compiles a literal argument as a type of its own, one more copy of the callee per value.
# Small kernels with one or two callers are inlined (inline="always"): numba compiles every
# other kernel as a library of its own, with its own copy of the machine code of all it calls.
# Scalar helpers (shift_round, bound, leak, ...) are not: numba's inlining runs its front end
# again at every call site (about 10 s of the first run), while LLVM inlines them anyway.
# The entry points (``infer_kernel``, a rule's ``train_kernel``) are made per kind of network:
# ``conv`` is a constant there, and numba drops the branches it rules out before it compiles
# anything they call (a dense network never compiles the conv kernels).
@nb.njit(cache=True, inline="always")
def forward_step(m, r, x_in, train, conv):
    """One time step through every layer on the input payloads x_in: delivery and neuron
    update, plus the trace registers when learning (inference needs no traces). x_in is
    r.x_pre when learning (the input trace and the learning step read it there); inference
    delivers from the input row itself, in its narrow type (no copy, 1/8 of the reads).
    conv: the network has a conv layer."""
    if train and m.input_trace:
        input_trace_update(m, r)
    for l in range(m.n_in.shape[0]):
        if l == 0:
            deliver_layer(m, r, 0, x_in, conv, train)
        else:
            deliver_layer(m, r, l, r.s[m.n_off[l - 1]:m.n_off[l - 1] + m.n_out[l - 1]], conv,
                          train)
        neuron_update(m, r, l)
        if train and m.spiking[l] and l + 1 < m.n_in.shape[0]:  # an output layer feeds no trace
            if m.recurrent[l]:  # its own rows learn from a[t-1]: kept before it changes
                off, a_prev, a = m.n_off[l], r.a_prev, r.a
                for i in range(off, off + m.n_out[l]):
                    a_prev[i] = a[i]
            trace_update(m, r, l)


@nb.njit(cache=True, inline="always")
def deliver_layer(m, r, l, pre, conv, train):
    """Phase 1 into layer l, dense or conv (learning: no effective ops, see deliver)."""
    if conv and m.conv[l]:
        deliver_conv(m, r, l, pre, not train)
    else:
        deliver(m, r, l, pre, not train)


# Element loops instead of whole-array assignments in the kernels below: an array assignment
# compiles numba's shape check and its error message (string formatting), about 8 s of the
# first run's compile for nothing (the shapes are right by construction).
@nb.njit(cache=True, inline="always")
def load_input(r, x_t):
    """The input register takes this step's payloads (x stays in its narrow type)."""
    x_pre = r.x_pre
    for j in range(x_t.shape[0]):
        x_pre[j] = x_t[j]


@nb.njit(cache=True, inline="always")
def add_readout(m, r, total):
    """total += this step's output: o[t] (summed membrane), or the output layer's spikes when
    the class is the largest spike count. The prediction is argmax of the sum (ties: the
    lowest class, as numpy's and torch's argmax)."""
    ro = m.n_off[m.n_in.shape[0] - 1]
    if m.predict_spikes:
        s = r.s
        for c in range(total.shape[0]):
            total[c] += s[ro + c]
    else:
        u = r.u
        for c in range(total.shape[0]):
            total[c] += u[ro + c]


@nb.njit(cache=True, inline="always")
def copy_output(m, r, row):
    """row[:] = the output layer's u[t] (a read-out's o[t]): what the loss is computed on."""
    ro = m.n_off[m.n_in.shape[0] - 1]
    u = r.u
    for c in range(row.shape[0]):
        row[c] = u[ro + c]


@nb.njit(cache=True, inline="always")
def infer_sample(m, r, x, rec_spikes, rec_membrane, rec_output, conv):
    """One sample x (T, n_in) with frozen weights; returns the predicted class.

    rec_spikes / rec_membrane: (T, neurons), rec_output: (T, classes) arrays to fill, or
    shape (0, 0).
    """
    total = np.zeros(m.n_out[m.n_in.shape[0] - 1], np.int64)
    reset_state(r)
    for t in range(x.shape[0]):
        r.clock[1] = t
        forward_step(m, r, x[t], np.bool_(False), conv)
        add_readout(m, r, total)
        if rec_output.shape[0] > 0:
            copy_output(m, r, rec_output[t])
        if rec_spikes.shape[0] > 0:
            s = r.s
            for i in range(s.shape[0]):
                rec_spikes[t, i] = s[i]
        if rec_membrane.shape[0] > 0:
            u = r.u
            for i in range(u.shape[0]):
                rec_membrane[t, i] = u[i]
    return np.argmax(total)


@lru_cache(maxsize=None)
def infer_kernel(conv: bool):
    """The inference kernel for a network with (conv True) or without conv layers:

    infer_range(m, r, x, start, stop, rec_spikes, rec_membrane, rec_output, preds):
    frozen-weight inference of samples [start, stop) of x (N, T, n_in) on registers r
    (cleared before each sample; the counts add up in r); predictions into ``preds``.
    Releases the GIL: threads run ranges side by side, each on registers of its own.
    rec_spikes / rec_membrane: (N, T, neurons), rec_output: (N, T, classes), or shape
    (0, 0, 0)."""
    @nb.njit(cache=True, nogil=True)
    def infer_range(m, r, x, start, stop, rec_spikes, rec_membrane, rec_output, preds):
        for k in range(start, stop):
            rs = rec_spikes[k] if rec_spikes.shape[0] > 0 else np.zeros((0, 0), rec_spikes.dtype)
            rm = rec_membrane[k] if rec_membrane.shape[0] > 0 else np.zeros((0, 0), np.int64)
            ro = rec_output[k] if rec_output.shape[0] > 0 else np.zeros((0, 0), np.int64)
            preds[k] = infer_sample(m, r, x[k], rs, rm, ro, conv)
    return infer_range


# samples a thread takes at a time, at least: still many chunks a thread, and each chunk's
# Python (about 0.1 ms, under the GIL) small beside its kernel (784-1024-10, T = 100: 6 ms)
INFER_CHUNK = 8
CHUNK_WORK = 2_000_000  # synapse words x steps a chunk should hold, when samples are small


def chunk_samples(m, n: int, steps: int, threads: int) -> int:
    """Samples per chunk: INFER_CHUNK, or more for small samples (each chunk also costs about
    0.1 ms of Python, converting its inputs and reducing its outputs), but never fewer than
    8 chunks a thread, so that the threads finish together."""
    per_sample = max(1, steps * int(m.weights.size))
    return max(INFER_CHUNK, min(CHUNK_WORK // per_sample, n // (8 * max(1, threads))))


def infer_batch(m, x, rec_spikes, rec_membrane, rec_output, threads: int, payloads=None,
                outputs_done=None):
    """Frozen-weight inference of N samples on ``threads`` threads, chunk by chunk.

    x: (N, T, n_in) payloads in C order, or inputs that ``payloads`` turns into such payloads
    a chunk at a time, in the threads (so the conversion runs in parallel as well, and never
    for all N at once). ``outputs_done(start, stop, outputs)``: called in the threads with
    each chunk's output u[t] (stop - start, T, classes), kept in rec_output or, when that is
    empty, in a buffer of the thread's (a loss reduced where it is made takes no (N, T,
    classes) array). Returns (predictions (N,), counters (L, events), neuron counts
    (4, neurons)). Each thread counts in registers of its own; integer sums do not depend on
    which thread ran which chunk, so the result is the same for any thread count. (Plain
    threads around a nogil kernel instead of numba's parallel loop: the same speed, and it
    compiles in about half the time.)
    """
    n = x.shape[0]
    count_row_nonzeros(m)  # (learning changed the weights since the last pass)
    size = chunk_samples(m, n, x.shape[1], threads)
    preds = np.zeros(n, np.int64)
    infer_range = infer_kernel(has_conv(m))
    owned = threading.local()
    registers = []

    def chunk(start):
        if not hasattr(owned, "view"):
            r = new_registers(m, learning=False)
            registers.append(r)
            # a view per thread: every kernel's read of an array field counts a reference
            # on the array's numba handle, one handle per view; shared, the threads fought
            # over its cache line (2 threads ran 1.3x one thread's rate, not 2x)
            owned.view = kernel_view(m, r)
            owned.outputs = np.zeros((min(size, n) if outputs_done else 0, x.shape[1],
                                      m.n_out[m.n_in.shape[0] - 1]), np.int64)
        stop = min(start + size, n)
        part = x[start:stop] if payloads is None else payloads(x[start:stop])
        spikes, membrane, outputs = (rec[start:stop] if rec.shape[0] else rec
                                     for rec in (rec_spikes, rec_membrane, rec_output))
        if outputs_done and not rec_output.shape[0]:  # not kept: this thread's buffer
            outputs = owned.outputs[:stop - start]
        infer_range(*owned.view, part, 0, stop - start, spikes, membrane, outputs,
                    preds[start:stop])
        if outputs_done:
            outputs_done(start, stop, outputs)

    starts = range(0, n, size)
    if threads <= 1 or len(starts) == 1:
        for start in starts:
            chunk(start)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(chunk, starts))
    if not registers:  # no samples
        registers.append(new_registers(m, learning=False))
    return (preds, sum(r.counters for r in registers),
            sum(r.neuron_counts for r in registers))
