"""The fixed-point chip: integer primitives, numba kernels against their numpy twins bit for
bit, convergence to the float64 reference with wide formats, errors for impossible formats."""
import json
import math

import numba as nb
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from chipsim.chip import kernels, learning_engine as le, reference as ref
from chipsim.chip.arrays import (Memories, Registers, build_memories, count_row_nonzeros,
                                 kernel_view, new_registers, register_dtype)
from chipsim.chip.chip import Chip
from chipsim.chip.fixedpoint import (FLOOR, NEAREST, STOCHASTIC, Format, random_bits,
                                     random_bits_np, shift_round, shift_round_np)
from chipsim.chip.formats import derive_formats
from chipsim.cli import main
from chipsim.config import BitsConfig, ChipConfig, LearningConfig, OptimizerConfig
from chipsim.chip.overflow import VARIABLES
from chipsim.errors import ConfigError, SimulationError
from chipsim.mapping.network import Conv2d, Dense, Flatten, Network, Neuron, Pool2d, param_shape
from chipsim.mapping.quantize import quantize_biases, quantize_weights
from chipsim.rules import ottt_chip
from chipsim.rules.ottt import feedback_matrices

from conftest import ROOT

import test_golden


# ----------------------------------------------------------------------------- primitives
@settings(max_examples=200, deadline=None)
@given(st.integers(-2**50, 2**50), st.integers(-3, 12), st.sampled_from([FLOOR, NEAREST, STOCHASTIC]),
       st.integers(0, 2**63), st.integers(0, 2**40))
def test_shift_round_numba_equals_numpy_and_brackets_the_exact_value(x, n, mode, key, ctr):
    a = shift_round(np.int64(x), n, mode, np.uint64(key), ctr)
    b = shift_round_np(np.array([x]), n, mode, np.uint64(key), np.array([ctr]))[0]
    assert a == b
    exact = x / 2 ** n
    assert np.floor(exact) <= a <= np.floor(exact) + 1
    if mode == FLOOR:
        assert a == np.floor(exact)
    if mode == NEAREST:
        assert abs(a - exact) <= 0.5


def test_stochastic_rounding_is_unbiased_and_deterministic():
    x = np.full(200_000, 5)  # 5 / 16 = 0.3125
    draws = shift_round_np(x, 4, STOCHASTIC, np.uint64(7), np.arange(len(x)))
    assert abs(draws.mean() - 0.3125) < 0.005
    assert np.array_equal(draws, shift_round_np(x, 4, STOCHASTIC, np.uint64(7), np.arange(len(x))))
    other_key = shift_round_np(x, 4, STOCHASTIC, np.uint64(8), np.arange(len(x)))
    assert not np.array_equal(draws, other_key)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 2**62), st.integers(1, 62))
def test_random_bits_numba_equals_numpy_and_has_n_bits(key, ctr, n):
    a = random_bits(np.uint64(key), ctr, n)
    assert a == random_bits_np(np.uint64(key), np.array([ctr]), n)[0]
    assert 0 <= a < 2 ** n


def test_format_quantize_saturates_and_counts():
    f = Format(4, 2)  # s4.2: [-2, 1.75] in steps of 0.25
    q, saturated = f.quantize([0.3, -3.0, 1.9, 0.125])
    assert list(q) == [1, -8, 7, 1] and saturated == 2
    assert f.to_real(q).tolist() == [0.25, -2.0, 1.75, 0.25]
    assert Format(8, 7, signed=False).hi == 255


# ----------------------------------------------------------------------------- random chips
def chip_config(**bits):
    return ChipConfig(bits=BitsConfig(**bits))


@st.composite
def neurons(draw, default=False):
    """A random neuron: leak (IF included), threshold, firing, reset, synaptic current (CUBA);
    or None (the network's)."""
    if not default and draw(st.booleans()):
        return None
    reset_at = draw(st.sampled_from(["same_step", "next_step"]))
    reset = "subtract" if reset_at == "next_step" else draw(st.sampled_from(["subtract", "zero"]))
    return Neuron(draw(st.sampled_from([1.5, 2.0, 4.0, 20.0, math.inf])),
                  draw(st.sampled_from([0.5, 1.0, 1.7])), reset,
                  draw(st.sampled_from([">=", ">"])), reset_at,
                  draw(st.sampled_from([1.0, 1.0, 2.0, 5.0])))


@st.composite
def random_chips(draw):
    """A small random network on a chip with random widths, rounding, rule options (dense
    hidden layers may be recurrent)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    classes = draw(st.integers(2, 5))
    if draw(st.booleans()):   # dense chain
        n_in = draw(st.integers(1, 9))
        hidden = draw(st.lists(st.integers(1, 9), min_size=0, max_size=2))
        sizes = [n_in] + hidden + [classes]
        spiking_out = draw(st.booleans())
        layers = tuple(Dense(f"l{i}", sizes[i], sizes[i + 1],
                             spiking=i < len(sizes) - 2 or spiking_out, neuron=draw(neurons()),
                             recurrent=i < len(sizes) - 2 and draw(st.booleans()))
                       for i in range(len(sizes) - 1))
    else:                     # conv, maybe pooled, maybe a second conv, then a dense read-out
        shape = (draw(st.integers(1, 2)), draw(st.integers(3, 6)), draw(st.integers(3, 6)))
        k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        conv = Conv2d("c0", shape, draw(st.integers(1, 3)), (k, k), (s, s),
                      (draw(st.integers(0, k - 1)),) * 2, neuron=draw(neurons()))
        layers, current = [conv], conv.out_shape
        if draw(st.booleans()) and min(current[1:]) >= 2:
            pool = Pool2d("p0", current, (2, 2), (2, 2), draw(st.sampled_from(["avg", "sum"])))
            layers.append(pool)
            current = pool.out_shape
        if draw(st.booleans()):
            conv2 = Conv2d("c1", current, 2, (2, 2), (1, 1), (1, 1))
            layers.append(conv2)
            current = conv2.out_shape
        layers += [Flatten("f", current), Dense("out", int(np.prod(current)), classes, False)]
        layers = tuple(layers)
        n_in = int(np.prod(shape))
    synaptic = [l for l in layers if l.kind in ("dense", "conv2d")]
    hidden = [l.n_out for l in synaptic[:-1]]
    weights = {l.name: rng.normal(0.2, 0.8, param_shape(l)) for l in synaptic}
    biases = {l.name: rng.normal(0.1, 0.5, l.weight_shape[0] if l.kind == "conv2d" else l.n_out)
              for l in synaptic if draw(st.booleans())}
    net = Network(n_in, layers, draw(neurons(default=True)), weights, biases)
    bits = dict(weight=draw(st.integers(2, 16)), membrane=draw(st.integers(12, 24)),
                trace=draw(st.integers(2, 12)), error=draw(st.integers(3, 14)),
                input=draw(st.integers(1, 8)), surrogate=draw(st.integers(2, 10)),
                accumulator=draw(st.integers(6, 30)), learning_rate=draw(st.integers(1, 12)),
                bias=draw(st.integers(2, 20)))
    chip = ChipConfig(bits=BitsConfig(**bits),
                      rounding=draw(st.sampled_from(["floor", "nearest", "stochastic"])),
                      weight_headroom=draw(st.sampled_from([1.0, 4.0])))
    variant = draw(st.sampled_from(["A", "O"]))
    error = draw(st.sampled_from(["backprop", "broadcast"])) if hidden else "backprop"
    learning = LearningConfig(variant=variant, error=error,
                              batch_size=1 if variant == "O" else draw(st.integers(1, 3)),
                              optimizer=OptimizerConfig(lr=draw(st.sampled_from([0.05, 0.5, 2.0]))))
    input_trace = draw(st.booleans())
    binary = draw(st.booleans())
    steps = draw(st.integers(1, 5))
    feedback = feedback_matrices(hidden, classes, seed=3) if error == "broadcast" else []
    try:
        formats = derive_formats(chip, learning, net, input_max=1.0, binary_input=binary,
                                 timesteps=steps, input_trace=input_trace, feedback=feedback)
    except ConfigError:
        assume(False)
    ints, _ = quantize_weights(net, formats)
    rule = ottt_chip.ottt_chip_rule(variant, error, input_trace)
    overflow = {v: draw(st.sampled_from(["saturate", "wrap", "error"])) for v in VARIABLES}
    memories = build_memories(formats, ints, rounding=chip.rounding, alpha=4.0, mse_weight=0.3,
                              seed=5, accumulators=variant == "A",
                              input_trace=input_trace, overflow=overflow, chain=net.chain,
                              feedback=[f.quantize(b)[0] for f, b in zip(formats.feedback, feedback)],
                              biases=quantize_biases(net, formats)[0],
                              predict_spikes=synaptic[-1].spiking and draw(st.booleans()))
    x = rng.random((4, learning.batch_size, steps, n_in))
    if binary:
        x = (x < 0.5).astype(float)
    labels = rng.integers(0, classes, (4, learning.batch_size))
    return Chip([l.name for l in synaptic], formats, memories, rule), x, labels


def twin_of(chip: Chip) -> Chip:
    """An independent copy of the chip that runs the numpy twins."""
    copy = Chip(chip.names, chip.formats,
                Memories(*[v.copy() if isinstance(v, np.ndarray) else v for v in chip.memories]),
                chip.rule, reference=True)
    copy.registers = widened(chip.registers)
    return copy


def widened(r: Registers) -> Registers:
    """A copy of r with the neuron and trace registers in int64, as the twins keep them."""
    return Registers(*[v.astype(np.int64) if k in NARROW else v.copy()
                       for k, v in r._asdict().items()])


NARROW = ("v", "u", "s", "a", "a_prev", "i_syn", "a_in", "x_pre", "pooled_pre")


def assert_same_state(a: Chip, b: Chip):
    for field in Memories._fields:
        x, y = getattr(a.memories, field), getattr(b.memories, field)
        if field == "row_nnz":  # derived from the weights before each inference pass
            continue
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y), f"memory {field} differs"
    for field in Registers._fields:
        # scratch, not state (the accumulation log's contents: its counts in log_at must
        # be back to 0, as the twin's, once a batch is done)
        if field in ("scratch", "pooled", "pooled_pre", "charge", "kgrad", "active", "log_pre",
                     "log_delta", "w_t"):
            continue
        x, y = getattr(a.registers, field), getattr(b.registers, field)
        assert np.array_equal(x, y), (f"register {field} differs: {x} vs {y}; chip: "
                                      f"{a.formats}, flags {a.rule.flags}")
    assert np.array_equal(a.inference_counts, b.inference_counts)
    assert np.array_equal(a.inference_neuron_counts, b.inference_neuron_counts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])
@given(random_chips())
def test_numba_chip_equals_numpy_twin_bit_for_bit(case):
    chip, x, labels = case
    twin = twin_of(chip)

    def outcome(fn, *args):
        try:
            return fn(*args)
        except SimulationError as exc:  # overflow policy 'error': both must stop alike
            return str(exc)

    for batch_x, batch_y in zip(x, labels):
        a, b = outcome(chip.train_batch, batch_x, batch_y), outcome(twin.train_batch, batch_x, batch_y)
        assert type(a) is type(b) and np.array_equal(a, b)
        assert_same_state(chip, twin)
        if isinstance(a, str):
            return
    a, b = outcome(chip.infer, x[0], ("spikes", "membrane")), outcome(twin.infer, x[0], ("spikes", "membrane"))
    assert type(a) is type(b)
    if isinstance(a, tuple):
        (p1, r1), (p2, r2) = a, b
        assert np.array_equal(p1, p2)
        assert r1.keys() == r2.keys() and all(np.array_equal(r1[k], r2[k]) for k in r1)
    assert_same_state(chip, twin)


@pytest.mark.parametrize("weight_bits, input_bits, membrane_bits, binary, storage", [
    (6, 8, 16, True, (np.int8, np.int32, np.uint8, np.int32)),     # 8-bit class, binary spikes
    (12, 8, 24, False, (np.int16, np.int32, np.uint8, np.int32)),  # graded 8-bit payloads
    (24, 12, 40, False, (np.int32, np.int64, np.uint16, np.int64)),  # wide: 64-bit sums, registers
])
def test_every_storage_width_equals_the_numpy_twins(weight_bits, input_bits, membrane_bits, binary,
                                                    storage):
    """Synapse memory, dendrite accumulators and input payloads are stored in the narrowest
    machine type of their format, neuron and trace registers in int32 unless the format needs
    int64; OTTT_A and O and inference agree with the twins bit for bit in each (the twins
    compute in int64 whatever the storage)."""
    rng = np.random.default_rng(weight_bits)
    layers = (Dense("h", 12, 9), Dense("o", 9, 4, spiking=False))
    net = Network(12, layers, Neuron(), {"h": rng.normal(0.3, 0.8, (9, 12)),
                                         "o": rng.normal(0.0, 0.8, (4, 9))}, {})
    chip_cfg = ChipConfig(bits=BitsConfig(weight=weight_bits, input=input_bits,
                                          membrane=membrane_bits,
                                          accumulator=40), rounding="stochastic")
    x = rng.random((3, 4, 5, 12))
    if binary:
        x = (x < 0.4).astype(float)
    labels = rng.integers(0, 4, (3, 4))
    for variant in ("A", "O"):
        learning = LearningConfig(variant=variant, batch_size=4 if variant == "A" else 1)
        formats = derive_formats(chip_cfg, learning, net, input_max=1.0, binary_input=binary,
                                 timesteps=5, input_trace=False)
        memories = build_memories(formats, quantize_weights(net, formats)[0],
                                  rounding="stochastic", alpha=4.0, mse_weight=0.3, seed=1,
                                  accumulators=variant == "A")
        chip = Chip(["h", "o"], formats, memories, ottt_chip.ottt_chip_rule(variant, "backprop",
                                                                             False))
        payloads = chip.payloads(x[0])
        r = chip.registers
        assert (memories.weights.dtype, r.dendrite.dtype, payloads.dtype, r.v.dtype) == storage
        assert {r.u.dtype, r.s.dtype, r.a.dtype, r.x_pre.dtype} == {r.v.dtype}
        twin = twin_of(chip)
        for batch_x, batch_y in zip(x, labels):
            for b in range(0, len(batch_y), learning.batch_size):
                rows = slice(b, b + learning.batch_size)
                assert np.array_equal(chip.train_batch(batch_x[rows], batch_y[rows], True),
                                      twin.train_batch(batch_x[rows], batch_y[rows], True))
                assert np.array_equal(chip.last_outputs, twin.last_outputs)  # the loss's o[t]
            assert_same_state(chip, twin)
        preds, kept = chip.infer(x[0], ("output",))
        twin_preds, twin_kept = twin.infer(x[0], ("output",))
        assert np.array_equal(preds, twin_preds)
        assert np.array_equal(kept["output"], twin_kept["output"]) and kept["output"].shape == (4, 5, 4)
        assert_same_state(chip, twin)


def test_payloads_of_direct_coding_convert_each_sample_once():
    """Direct coding repeats a sample at every step (a broadcast view): its payloads are the
    same as those of the materialized input, in the input format's narrow type."""
    rng = np.random.default_rng(0)
    net = Network(5, (Dense("o", 5, 3, spiking=False),), Neuron(), {"o": rng.normal(0, 1, (3, 5))},
                  {})
    formats = derive_formats(ChipConfig(), LearningConfig(), net, input_max=1.0,
                             binary_input=False, timesteps=4, input_trace=False)
    chip = Chip(["o"], formats, build_memories(formats, quantize_weights(net, formats)[0],
                                               rounding="nearest", alpha=4.0, mse_weight=0.3,
                                               seed=0, accumulators=False))
    x = rng.random((6, 5))
    direct = np.broadcast_to(x[:, None, :], (6, 4, 5))
    assert np.array_equal(chip.payloads(direct), chip.payloads(np.ascontiguousarray(direct)))
    assert chip.payloads(direct).dtype == np.uint8


def backward_error_any_layer(m, r, l):
    le.backward_error(m, r, l, np.bool_(True))  # conv True: the kernel that reads either kind


@nb.njit
def backward_error_transposed(m, r, l):
    """The backward read from OTTT_A's transposed copy of the synapse memory."""
    le.transpose_weights(m, r)
    le.backward_error(m, r, l, np.bool_(False))
    for k in range(r.w_t_at.shape[0]):
        r.w_t_at[k, 1] = 0  # as the twin's: out of use between batches


def accumulate_now(m, r, l, pre):
    le.accumulate(m, r, l, pre)
    le.flush_accumulation(m, r, l)  # the logged adds, made now


def random_registers(chip: Chip, rng) -> Registers:
    r = new_registers(chip.memories)
    hi = int(chip.memories.threshold.max()) * 2 + 2
    for reg in (r.v, r.u, r.e):
        reg[:] = rng.integers(-hi, hi, reg.shape)
    r.s[:] = rng.integers(0, 2, r.s.shape)
    r.a[:] = rng.integers(0, chip.memories.trace_hi + 1, r.a.shape)
    r.a_in[:] = rng.integers(0, chip.memories.trace_hi + 1, r.a_in.shape)
    r.x_pre[:] = rng.integers(0, 3, r.x_pre.shape)
    r.dendrite[:] = rng.integers(-hi * 50, hi * 50, r.dendrite.shape)
    r.e[:] = np.clip(r.e, chip.memories.e_lo, chip.memories.e_hi)
    return r


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])
@given(random_chips(), st.integers(0, 2**31))
def test_each_kernel_equals_its_twin_on_random_registers(case, seed):
    chip, _, labels = case
    m = chip.memories
    rng = np.random.default_rng(seed)
    layers = len(m.n_in)
    calls = []
    count_row_nonzeros(m)

    def values(hi, n):  # presynaptic values as the kernels see them: in the registers' type
        return rng.integers(0, hi, n).astype(register_dtype(m))

    for l in range(layers):
        pre_len, map_len = int(m.n_pre[l]), int(m.n_map[l])
        deliver = kernels.deliver_conv if m.conv[l] else kernels.deliver
        calls += [("deliver", deliver, ref.deliver, (l, values(4, pre_len), np.bool_(True))),
                  ("neuron_update", kernels.neuron_update, ref.neuron_update, (l,))]
        pre = values(9, pre_len)
        regs = random_registers(chip, rng)
        assert np.array_equal(le.pool_pre(*kernel_view(m, regs), l, pre),
                              ref.pool_pre(m, regs, l, pre))
        if m.conv[l]:  # conv
            calls += [(f"update_kernel {mode}", le.update_kernel, ref.update_kernel,
                       (l, values(9, map_len), mode))
                      for mode in ((True, False) if len(m.accum) else (True,))]
        else:
            calls.append(("update_weights", le.update_weights, ref.update_weights,
                          (l, values(9, map_len))))
            if len(m.accum):
                calls.append(("accumulate", accumulate_now, ref.accumulate,
                              (l, values(9, map_len))))
        if m.has_bias[l]:
            calls += [(f"update_bias {mode}", le.update_bias, ref.update_bias, (l, mode))
                      for mode in ((True, False) if len(m.accum) else (True,))]
        if m.spiking[l]:
            calls.append(("trace_update", kernels.trace_update, ref.trace_update, (l,)))
        if l > 0:
            calls.append(("backward_error", backward_error_any_layer, ref.backward_error, (l,)))
            if len(m.accum) and not m.conv[l]:
                calls.append(("backward_error (transposed copy)", backward_error_transposed,
                              ref.backward_error, (l,)))
            if len(m.feedback):
                calls.append(("broadcast_error", le.broadcast_error, ref.broadcast_error, (l - 1,)))
    calls += [("input_trace_update", kernels.input_trace_update, ref.input_trace_update, ()),
              ("output_error", ottt_chip.output_error, ottt_chip.output_error_ref,
               (int(labels[0, 0]),))]
    if len(m.accum):  # any state the chip can reach: each layer's accumulators in its range
        for l in range(layers):
            lo, hi = max(-50, int(m.acc_lo[l])), min(50, int(m.acc_hi[l]))
            rows = slice(int(m.w_off[l]), int(m.w_off[l] + m.n_in[l] * m.row_len[l]))
            m.accum[rows] = rng.integers(lo, hi + 1, m.accum[rows].shape)
            if m.has_bias[l]:
                b = slice(int(m.b_off[l]), int(m.b_off[l] + m.row_len[l]))
                m.bias_accum[b] = rng.integers(lo, hi + 1, m.bias_accum[b].shape)
        calls.append(("apply_accumulators", le.apply_accumulators, ref.apply_accumulators, ()))
    for name, fast, slow, args in calls:
        regs = random_registers(chip, rng)
        twin = twin_of(chip)
        twin.registers = widened(regs)
        chip.registers = regs
        try:
            fast(*chip.kernel_args(), *args)
            slow(twin.memories, twin.registers, *args)
            assert_same_state(chip, twin)
        except (AssertionError, IndexError) as exc:
            raise AssertionError(f"{name}: {exc}") from None


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])
@given(random_chips(), st.integers(0, 2**31), st.integers(1, 4), st.integers(1, 7))
def test_logged_accumulation_equals_adding_step_by_step(case, seed, depth, steps):
    """OTTT_A's accumulation log (adds made later, a synapse row at a time, plain adds where
    no order can overflow) leaves the accumulators and counts of adding every step at once,
    saturation and wrapping included, whatever the log depth (flushes mid-way or not)."""
    chip, _, _ = case
    m = chip.memories
    assume(len(m.accum) and not m.conv.any())
    rng = np.random.default_rng(seed)
    for l in range(len(m.n_in)):
        lo, hi = int(m.acc_lo[l]), int(m.acc_hi[l])
        rows = slice(int(m.w_off[l]), int(m.w_off[l] + m.n_in[l] * m.row_len[l]))
        m.accum[rows] = rng.integers(lo, hi + 1, m.accum[rows].shape) // rng.integers(1, 4)
    chip.registers = random_registers(chip, rng)
    chip.registers.log_at[:, 3] = np.minimum(chip.registers.log_at[:, 3], depth)
    twin = twin_of(chip)
    for _ in range(steps):
        e = rng.integers(m.e_lo, m.e_hi + 1, chip.registers.e.shape) * (rng.random() < 0.8)
        chip.registers.e[:], twin.registers.e[:] = e, e
        for l in range(len(m.n_in)):
            pre = (rng.integers(0, 9, int(m.n_map[l])) * (rng.random(int(m.n_map[l])) < 0.5)
                   ).astype(register_dtype(m))
            le.accumulate(*chip.kernel_args(), l, pre)
            ref.accumulate(twin.memories, twin.registers, l, pre)
    for l in range(len(m.n_in)):
        le.flush_accumulation(*chip.kernel_args(), l)
    assert_same_state(chip, twin)


# ----------------------------------------------------------------------------- convergence
WIDE = ["chip.arithmetic=fixed", "chip.rounding=nearest",
        "chip.bits={weight: 32, membrane: 46, trace: 20, error: 20, surrogate: 16, "
        "accumulator: 46, input: 8, learning_rate: 16}"]


def relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("variant,error", [("A", "backprop"), ("O", "backprop"),
                                           ("A", "broadcast"), ("O", "broadcast")])
def test_wide_formats_converge_to_the_float64_reference(tmp_path, golden, variant, error,
                                                       measured):
    """Golden nets, no momentum, two epochs: chip weights within 1e-4 of the float64 run."""
    cfg = test_golden.write_golden_run(tmp_path, golden, "ottt", variant, False, 0.0)
    common = [f"learning.batch_size={3 if variant == 'A' else 1}", f"learning.error={error}",
              "learning.epochs=2"]
    sets = lambda items: [a for o in items for a in ("--set", o)]  # noqa: E731
    assert main(["run", str(cfg), "--out", str(tmp_path / "float"),
                 *sets(common + ["chip.arithmetic=float64"])]) == 0
    assert main(["run", str(cfg), "--out", str(tmp_path / "chip"), *sets(common + WIDE)]) == 0
    with np.load(tmp_path / "float" / "weights.npz") as f, \
            np.load(tmp_path / "chip" / "weights.npz") as c:
        for key in ("h1", "out"):
            assert relative(c[key], f[key]) < 1e-4
            measured(f"wide/{variant}-{error}/{key}", relative(c[key], f[key]))
    if variant == "A" and error == "backprop":  # one epoch of A is the golden single step
        assert main(["run", str(cfg), "--out", str(tmp_path / "one"),
                     *sets(common[:2] + ["learning.epochs=1"] + WIDE)]) == 0
        with np.load(tmp_path / "one" / "weights.npz") as c:
            assert relative(c["h1"], golden["ottt_A_w_final_W1"]) < 1e-4
            assert relative(c["out"], golden["ottt_A_w_final_W2"]) < 1e-4


# ----------------------------------------------------------------------------- runs and errors
EXAMPLE = str(ROOT / "examples" / "digits_ottt.yaml")


def test_short_chip_run_learns_and_reports_counts(tmp_path):
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), "--set", "learning.epochs=2"]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["run"]["arithmetic"] == "fixed"
    assert report["final"]["test_accuracy"] > 0.85
    chip = report["chip"]
    assert chip["rule"] == "OTTT_A (backprop)" and "accumulators" in chip["rule_needs"]
    train = chip["counts"]["training"]
    # every training sample is T = 6 steps of 128 + 10 neuron updates
    assert train["fc1"]["neuron_updates"] == 2 * 1346 * 6 * 128
    assert train["out"]["neuron_updates"] == 2 * 1346 * 6 * 10
    # read-out synaptic ops = spikes of fc1 x 10 synapses each
    assert train["out"]["synaptic_ops"] == train["fc1"]["spikes"] * 10
    inference = chip["counts"]["inference"]
    assert inference["fc1"]["neuron_updates"] == 451 * 6 * 128
    assert inference["fc1"]["weight_updates"] == 0
    assert "## Chip" in (tmp_path / "r" / "summary.md").read_text()


@pytest.mark.parametrize("sets,needle", [
    (["learning.optimizer.momentum=0.9"], "the chip's learning engine keeps no momentum buffer"),
    (["learning.variant=O"], "variant O writes weights every step of one sample"),
    (["chip.bits.membrane=6"], "chip.bits.membrane: layer 'fc1' has a 6-bit membrane with -1 fraction bits"),
    (["learning.optimizer.lr=1.0e-12"], "gives a weight-update shift of"),
])
def test_chip_config_errors(tmp_path, capsys, sets, needle):
    args = [a for o in sets for a in ("--set", o)]
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_digits_on_chip_within_one_point_of_float(tmp_path, seed):
    acc = {}
    for arithmetic in ("fixed", "float64"):
        out = tmp_path / arithmetic
        assert main(["run", EXAMPLE, "--out", str(out), "--set", f"seed={seed}",
                     "--set", f"chip.arithmetic={arithmetic}"]) == 0
        acc[arithmetic] = json.loads((out / "report.json").read_text())["final"]["test_accuracy"]
    assert acc["fixed"] >= 0.96
    assert acc["fixed"] >= acc["float64"] - 0.02  # per seed; the mean is within 1 point


def test_layers_silenced_by_quantization_are_reported(tmp_path, capsys):
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "r"), "--set", "chip.bits.weight=2",
                 "--set", "learning.epochs=0"]) == 0
    assert "warning: layer 'fc1' did not spike on the test set after quantization" in \
        capsys.readouterr().out
    chip = json.loads((tmp_path / "r" / "report.json").read_text())["chip"]
    assert chip["silent_layers_after_quantization"] == ["fc1"]
    assert main(["run", EXAMPLE, "--out", str(tmp_path / "ok"), "--set", "learning.epochs=0"]) == 0
    chip = json.loads((tmp_path / "ok" / "report.json").read_text())["chip"]
    assert chip["silent_layers_after_quantization"] == [] and chip["spike_rates_after_quantization"]["fc1"] > 0


def test_inference_is_the_same_on_any_number_of_threads():
    """Chunks run on threads with per-thread counts: predictions, records and every count are
    equal for 1 and 2 threads (integer sums do not depend on the order). Losses computed in
    the threads from each chunk's outputs equal the losses of the recorded outputs, and the
    numpy twin's."""
    from chipsim.rules.loss import sample_losses
    import numba

    from chipsim.config import validate_config
    from chipsim.data import Dataset
    from chipsim.build import make_model, network_from_config

    rng = np.random.default_rng(0)
    x = (rng.random((100, 40)) < 0.3).astype(float)
    data = Dataset("t", x, np.arange(100) % 3, x, np.arange(100) % 3, 3)
    cfg = validate_config({"data": {"source": "npz", "path": "unused.npz", "timesteps": 5},
                           "network": {"layers": [{"name": "h", "units": 30},
                                                  {"name": "o", "units": 3, "neuron": "readout"}],
                                       "init": {"gain": 3.0}},
                           "learning": {"rule": "none"}})
    outcomes = []
    before = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            chip = make_model(cfg, network_from_config(cfg, data), data)
            x3 = np.broadcast_to(x[:, None], (100, 5, 40))
            preds, rec = chip.infer(x3, ("spikes", "membrane", "output"),
                                    lambda o, a, b: sample_losses(o, data.y_test[a:b], 0.1))
            assert np.array_equal(rec["loss"], sample_losses(rec["output"], data.y_test, 0.1))
            _, alone = chip.infer(x3, (), lambda o, a, b: sample_losses(o, data.y_test[a:b], 0.1))
            assert set(alone) == {"loss"} and np.array_equal(alone["loss"], rec["loss"])
            outcomes.append((preds, rec, chip.inference_counts.copy(),
                             chip.inference_neuron_counts.copy()))
    finally:
        numba.set_num_threads(before)
    (p1, r1, c1, n1), (p2, r2, c2, n2) = outcomes
    assert np.array_equal(p1, p2) and np.array_equal(c1, c2) and np.array_equal(n1, n2)
    assert all(np.array_equal(r1[k], r2[k]) for k in r1)
    assert c1[0, 4] > 0   # spikes happened
    twin = twin_of(chip)
    _, rec_twin = twin.infer(x3, (), lambda o, a, b: sample_losses(o, data.y_test[a:b], 0.1))
    assert np.array_equal(rec_twin["loss"], r1["loss"])
