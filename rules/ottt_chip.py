"""OTTT as the chip's learning engine runs it: integer kernels (numba) and their numpy twins.

Per time step, after the forward phases (see ``rules.ottt`` for the float64 equations):
  1. the read-out core's error unit forms e_out = (1 - m)(softmax(o) - y) + (2m/C)(o - y) in
     the error format (the 1/(B T) of the loss is folded into the learning rate);
  2. from the read-out down, each layer's delta is formed (backprop: a transposed read of the
     layer above, before that layer's weights change; broadcast: the core's feedback memory)
     and multiplied by the surrogate from the lookup table;
  3. each layer's synapses with nonzero delta_i and presynaptic value pre_j are updated
     (variant O: weights written now) or accumulated (variant A: written at the batch's end).
pre_j is the presynaptic trace register; for layer 1 the input payload or the input trace; a
recurrent layer's own rows learn from its trace of the previous step, a[t-1] (the paper's
recurrent case: the error stays the instantaneous one).

The error unit (declared in the report): exp from a 2^b_s-entry table over [-16, 0] (Q30) on
o - max(o), one integer division per class for the softmax, (1 - m) and 2m/C as Q16
constants, round to nearest, saturate to the error width.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Callable

import numba as nb
import numpy as np

from chipsim.chip import counters as ev
from chipsim.chip import kernels as kn
from chipsim.chip import learning_engine as le
from chipsim.chip import reference as ref
from chipsim.chip.fixedpoint import NEAREST, clamp, shift_round, shift_round_np
from chipsim.chip.overflow import ERROR, ERROR_VALUE, bound, limit_np, note_overflow
from chipsim.chip.formats import LOSS_FRAC

VARIANT_O, BROADCAST = 0, 1  # positions in the rule's flag array
ERROR_UNIT = ("on chip, at the read-out core: exp from a 2^b_s-entry lookup table over [-16, 0] "
              "(Q30), one integer division per class for the softmax, CE and MSE weights as Q16 "
              "constants, rounded to nearest and saturated to the error width")

O_LIMIT_EXTRA = 10  # |o| is clipped to 2^10 (real units) before the MSE term: beyond it e saturates


@nb.njit(cache=True)
def output_error(m, r, label):
    """The error unit of the read-out core: e_out for every class into the error registers."""
    layers = m.n_in.shape[0]
    ro, classes = m.n_off[layers - 1], m.n_out[layers - 1]
    fe, fo, sh = m.error_frac, m.membrane_frac[layers - 1], m.exp_shift
    entries = m.exp_lut.shape[0]
    omax = r.u[ro]
    for c in range(1, classes):
        omax = max(omax, r.u[ro + c])
    total = 0
    for c in range(classes):
        z = omax - r.u[ro + c]
        if sh >= 0:
            k = z >> sh
        else:
            k = (z << -sh) if z < entries else entries
        r.scratch[c] = m.exp_lut[k] if k < entries else 0  # scratch: the exp values
        total += r.scratch[c]
    o_lim = np.int64(1) << (fo + O_LIMIT_EXTRA)
    mode = m.overflow_mode[ERROR_VALUE]
    over = 0
    for c in range(classes):
        p = (r.scratch[c] << fe) // total
        y = (np.int64(1) << fe) if c == label else 0
        o = clamp(r.u[ro + c], -o_lim, o_lim)
        o_e = o << (fe - fo) if fe >= fo else shift_round(o, fo - fe, NEAREST, np.uint64(0), 0)
        e0 = shift_round(m.q_ce * (p - y) + m.q_mse * (o_e - y), LOSS_FRAC, NEAREST,
                         np.uint64(0), 0)
        e = bound(e0, m.e_lo, m.e_hi, mode)
        if e != e0:
            over += 1
            if mode == ERROR:
                note_overflow(r, np.int64(ERROR_VALUE), layers - 1, e0)
        r.e[ro + c] = e
    r.counters[layers - 1, ev.MODULATOR_OPS] += classes
    r.counters[layers - 1, ev.OVERFLOW_ERROR] += over


@nb.njit(cache=True, inline="always")
def ottt_step(m, r, label, variant_o, broadcast, conv):
    """One learning step of OTTT on chip (conv: the network has a conv layer)."""
    layers = m.n_in.shape[0]
    output_error(m, r, label)
    for l in range(layers - 1, -1, -1):
        if l > 0:
            if broadcast:
                le.broadcast_error(m, r, l - 1)
            else:
                le.backward_error(m, r, l, conv)  # reads W_l before this step changes it
        if l > 0:
            pre = le.pool_pre(m, r, l, r.a[m.n_off[l - 1]:m.n_off[l - 1] + m.n_out[l - 1]])
        elif m.input_trace:
            pre = le.pool_pre(m, r, l, r.a_in)
        else:
            pre = le.pool_pre(m, r, l, r.x_pre)
        if m.recurrent[l]:
            pre = le.with_own_trace(m, r, l, pre)
        if conv and m.conv[l]:
            le.update_kernel(m, r, l, pre, np.bool_(variant_o))
        elif variant_o:
            le.update_weights(m, r, l, pre)
        else:
            le.accumulate(m, r, l, pre)
        le.update_bias(m, r, l, np.bool_(variant_o))


@lru_cache(maxsize=None)
def ottt_train_kernel(variant_o: bool, broadcast: bool, conv: bool):
    """OTTT's training kernel for one variant, error path and kind of network (the branches
    the others need are not compiled):

    train_batch(m, r, x, labels, preds, outputs): learn a batch x (B, T, n_in) sample after
    sample; predictions into ``preds``, the output layer's u[t] (the loss's o[t]) into
    ``outputs`` (B, T, classes; shape (0, 0, 0): not kept). Variant A writes the accumulated
    changes once the batch is done."""
    @nb.njit(cache=True, nogil=True)  # (the figures' import overlaps it: Simulation.train)
    def train_batch(m, r, x, labels, preds, outputs):
        total = np.zeros(m.n_out[m.n_in.shape[0] - 1], np.int64)
        if not variant_o:
            le.transpose_weights(m, r)
        for b in range(x.shape[0]):
            kn.reset_state(r)
            total[:] = 0
            r.clock[0] = b
            for t in range(x.shape[1]):
                r.clock[1] = t
                kn.load_input(r, x[b, t])
                kn.forward_step(m, r, r.x_pre, np.bool_(True), conv)
                kn.add_readout(m, r, total)
                if outputs.shape[0] > 0:
                    kn.copy_output(m, r, outputs[b, t])
                ottt_step(m, r, labels[b], variant_o, broadcast, conv)
            preds[b] = np.argmax(total)
        if variant_o:  # (a bare constant: numba drops the branch it rules out)
            return
        r.clock[0], r.clock[1] = x.shape[0], 0  # the batch's end
        le.apply_accumulators(m, r)
    return train_batch


# ----------------------------------------------------------------------------- numpy twins
def output_error_ref(m, r, label):
    layers = len(m.n_in)
    o = ref.neurons(m, layers - 1, r.u)
    fe, fo, sh = int(m.error_frac), int(m.membrane_frac[-1]), int(m.exp_shift)
    entries = len(m.exp_lut)
    z = o.max() - o
    k = z >> sh if sh >= 0 else np.where(z < entries, np.minimum(z, entries) << -sh, entries)
    ex = np.where(k < entries, m.exp_lut[np.clip(k, 0, entries - 1)], 0)
    p = (ex << fe) // ex.sum()
    y = np.where(np.arange(len(o)) == label, 1 << fe, 0)
    o_lim = 1 << (fo + O_LIMIT_EXTRA)
    oc = np.clip(o, -o_lim, o_lim)
    o_e = oc << (fe - fo) if fe >= fo else shift_round_np(oc, fo - fe, NEAREST)
    e0 = shift_round_np(m.q_ce * (p - y) + m.q_mse * (o_e - y), LOSS_FRAC, NEAREST)
    ref.neurons(m, layers - 1, r.e)[:], over = limit_np(m, r, e0, m.e_lo, m.e_hi, ERROR_VALUE,
                                                        layers - 1)
    r.counters[layers - 1, ev.MODULATOR_OPS] += len(o)
    r.counters[layers - 1, ev.OVERFLOW_ERROR] += over


def ottt_step_ref(m, r, label, flags):
    layers = len(m.n_in)
    output_error_ref(m, r, label)
    for l in range(layers - 1, -1, -1):
        if l > 0:
            if flags[BROADCAST]:
                ref.broadcast_error(m, r, l - 1)
            else:
                ref.backward_error(m, r, l)
        pre = (ref.neurons(m, l - 1, r.a) if l > 0 else r.a_in if m.input_trace else r.x_pre)
        pre = ref.pool_pre(m, r, l, pre)
        if m.recurrent[l]:
            x_shift, a_shift = (int(m.first_pre_shift), int(m.first_own_shift)) if l == 0 else (0, 0)
            pre = np.concatenate([np.asarray(pre, np.int64) << x_shift,
                                  ref.neurons(m, l, r.a_prev) << a_shift])
        if m.conv[l]:
            ref.update_kernel(m, r, l, pre, flags[VARIANT_O])
        else:
            (ref.update_weights if flags[VARIANT_O] else ref.accumulate)(m, r, l, pre)
        ref.update_bias(m, r, l, bool(flags[VARIANT_O]))


def ottt_train_batch_ref(m, r, x, labels, flags, preds, outputs):
    for b in range(x.shape[0]):
        ref.reset_state(r)
        total = np.zeros(int(m.n_out[-1]), np.int64)
        r.clock[0] = b
        for t in range(x.shape[1]):
            r.clock[1] = t
            r.x_pre[:] = x[b, t]
            ref.forward_step(m, r, True)
            total += ref.neurons(m, len(m.n_in) - 1, r.s if m.predict_spikes else r.u)
            if outputs.shape[0] > 0:
                outputs[b, t] = ref.neurons(m, len(m.n_in) - 1, r.u)
            ottt_step_ref(m, r, labels[b], flags)
        preds[b] = np.argmax(total)
    if not flags[VARIANT_O]:
        r.clock[:] = (x.shape[0], 0)
        ref.apply_accumulators(m, r)


# ----------------------------------------------------------------------------- the plug-in
@dataclass(frozen=True)
class ChipRule:
    """A learning rule as the learning engine receives it.

    ``needs``: registers and memories the rule requires ('traces', 'error_registers',
    'accumulators', 'feedback', 'input_trace'). ``train_kernel(conv)`` is the numba kernel
    ``train_batch(m, r, x, labels, preds, outputs)`` for a network with (conv True) or
    without conv layers: it runs the engine's forward step and the rule's learning step for
    every time step of every sample of a batch, then any end-of-batch write.
    ``train_batch_ref(m, r, x, labels, flags, preds, outputs)`` is its numpy twin. (The
    composition lives in the rule module so numba can cache it: a kernel that takes another
    kernel as an argument is recompiled in every process. ``train_kernel`` pickles: a
    helper process may compile it.)
    """

    name: str
    needs: frozenset
    flags: np.ndarray
    train_kernel: Callable
    train_batch_ref: Callable
    error_unit: str = ""
    # kernels(m, r) the training kernel calls last (OTTT_A's end-of-batch write): on a cold
    # cache this process compiles them while a helper compiles the training kernel, which
    # then finds them in the cache
    engine_kernels: tuple = ()


def ottt_chip_rule(variant: str, error: str, input_trace: bool) -> ChipRule:
    needs = {"traces", "error_registers"}
    if variant == "A":
        needs.add("accumulators")
    if error == "broadcast":
        needs.add("feedback")
    if input_trace:
        needs.add("input_trace")
    flags = np.array([variant == "O", error == "broadcast"], np.int64)
    return ChipRule(f"OTTT_{variant} ({error})", frozenset(needs), flags,
                    partial(ottt_train_kernel, variant == "O", error == "broadcast"),
                    ottt_train_batch_ref, ERROR_UNIT,
                    (le.apply_accumulators,) if variant == "A" else ())
