"""The number format of every state variable on the chip, derived from the config and network.

Units follow Loihi's convention: a layer's membrane counts in units of its weight LSB (a
binary spike adds one stored weight, the threshold is an integer in the same units) unless the
membrane is too narrow for that, when the dendrite sum is shifted down to the membrane's LSB
(like Loihi's weight exponent).

  weight      signed b_w bits; per-layer power-of-two scale: the range is the smallest power of
              two >= weight_headroom x max|W| of the initial weights (room to learn); weights
              a chip trained keep their trained format (see ``weight_fraction``)
  membrane    signed b_v bits; fraction = the weights' fraction, or fewer so that the range is
              >= membrane_headroom x max(1, Vth); threshold = round(Vth 2^fv)
  input       graded spike payload: b_in bits covering the data's range (direct encoding),
              unsigned, or signed when the data has negative values; binary spikes (payload 1)
              when the data holds only 0 and 1
  trace       unsigned b_a bits covering the largest trace: max(1, max input) x
              (1 - lambda^T) / (1 - lambda) over the layers' leaks (T for an IF layer)
  bias        signed b_b bits per neuron (conv: per output channel) in neuron memory; range
              the larger of the layer's weight range and weight_headroom x max|b|; added to
              the membrane every step, shifted to the membrane's LSB
  error       signed b_e bits, range [-2, 2): output errors are probabilities minus targets
  surrogate   unsigned b_s bits covering the peak alpha/4; a 2^b_s-entry lookup table on
              (u - threshold) over [-R, R), R the power of two >= 16/alpha (sigma' ~ 0 beyond)
  accumulator signed b_acc bits (OTTT_A), fraction of error x presynaptic value
  lambda      per layer, unsigned 16-bit fraction; leak = (v lambda_int + 2^15) >> 16 (a
              shift for 0.5; exactly v for an IF neuron, lambda = 1)
  learning rate  lr / (batch x T) = mantissa x 2^-k, mantissa of b_lr bits
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chipsim.chip.fixedpoint import Format
from chipsim.errors import ConfigError

LAMBDA_FRAC = 16           # bits of the leak factor's fraction
EXP_LUT_RANGE = 16.0       # the error unit's exp table covers z in [-16, 0]; exp(-16) ~ 1e-7
EXP_FRAC = 30              # exp table values: unsigned Q30
LOSS_FRAC = 16             # (1 - m) and 2m/C of the CE+MSE error as Q16 constants
MAX_PRODUCT_BITS = 62      # every integer product must fit in int64 with a sign bit to spare
RESET_SUBTRACT, RESET_ZERO, RESET_NEXT_STEP = range(3)   # LayerFormat.reset_mode
RESET_NAMES = ("subtract", "zero", "subtract at the next step")


def reset_mode(neuron) -> int:
    """The chip's reset mode of a network Neuron (reset and reset_at)."""
    if neuron.reset_at == "next_step":
        return RESET_NEXT_STEP
    return RESET_ZERO if neuron.reset == "zero" else RESET_SUBTRACT


def trace_bound(lam: float, timesteps: int) -> float:
    """The largest trace a spike every step reaches in T steps: sum of lambda^k, k < T."""
    return float(timesteps) if lam >= 1.0 else (1.0 - lam ** timesteps) / (1.0 - lam)


@dataclass(frozen=True)
class LayerFormat:
    """Formats and shifts of one layer (see the module docstring)."""

    name: str
    spiking: bool
    weight: Format
    membrane: Format
    threshold: int          # firing threshold in membrane units
    delivery_shift: int     # dendrite sum -> membrane LSB: payload fraction + fw - fv + pool
    pool_shift: int         # log2 of the averaging area folded in front (0: none or sum)
    pre: Format             # what the layer learns from: a trace or the raw input payload
    update_shift: int       # weight change (LSB) = round((m * error * pre) >> update_shift)
    surrogate_shift: int    # LUT index = ((u - threshold) >> shift) + entries/2; < 0: left shift
    accumulator: Format     # OTTT_A per-synapse accumulator, fraction error.frac + pre.frac
    lam: int = 1 << 15      # the layer neuron's leak lambda x 2^LAMBDA_FRAC
    firing_gt: bool = False  # fire on u > threshold (else u >= threshold)
    reset_mode: int = 0     # RESET_SUBTRACT, RESET_ZERO or RESET_NEXT_STEP
    bias: Format | None = None   # the neurons' bias, when the layer has one
    bias_update_shift: int = 0   # bias change (LSB) = round((m * delta) >> bias_update_shift)
    syn_lam: int = 0        # a CUBA neuron's synaptic-current decay x 2^LAMBDA_FRAC (0: none)

    @property
    def bias_shift(self) -> int:
        """bias LSB -> membrane LSB: bias.frac - membrane.frac (< 0: a left shift)."""
        return self.bias.frac - self.membrane.frac if self.bias is not None else 0


@dataclass(frozen=True)
class ChipFormats:
    input: Format
    binary_input: bool
    trace: Format
    error: Format
    surrogate: Format
    input_lam: int                  # the input trace's lambda x 2^16 (the network's neuron)
    lr_mantissa: int
    lr_shift: int                   # lr / (batch T) = lr_mantissa x 2^-lr_shift
    lut_entries: int
    lut_range_log2: int             # the surrogate table covers [-2^r, 2^r)
    layers: tuple[LayerFormat, ...]
    feedback: tuple[Format, ...]    # per hidden layer, broadcast error path only

    def table(self) -> list[dict]:
        """One row per variable for the report: name and format. Every variable saturates at
        its range on overflow (and the overflow is counted); none wraps."""
        rows = [{"variable": "input", "format": "binary spikes" if self.binary_input
                 else self.input.describe()},
                {"variable": "trace", "format": self.trace.describe()},
                {"variable": "error", "format": self.error.describe()},
                {"variable": "surrogate", "format": self.surrogate.describe()
                 + f", {self.lut_entries}-entry table over [-{2 ** self.lut_range_log2}, "
                 f"{2 ** self.lut_range_log2})"},
                {"variable": "learning rate / (batch T)",
                 "format": f"{self.lr_mantissa} x 2^-{self.lr_shift} "
                           f"= {self.lr_mantissa * 2.0 ** -self.lr_shift:.6g}"}]
        for lf in self.layers:
            rows.append({"variable": f"{lf.name}.weight", "format": lf.weight.describe()})
            if lf.spiking:
                fires = ">" if lf.firing_gt else ">="
                rows.append({"variable": f"{lf.name}.membrane", "format": lf.membrane.describe()
                             + f", threshold {lf.threshold} (fires on u {fires} threshold), "
                             f"lambda {lf.lam} / 2^{LAMBDA_FRAC}, reset "
                             f"{RESET_NAMES[lf.reset_mode]}"})
            else:
                rows.append({"variable": f"{lf.name}.membrane",
                             "format": lf.membrane.describe() + " (non-spiking read-out)"})
            if lf.bias is not None:
                rows.append({"variable": f"{lf.name}.bias", "format": lf.bias.describe()})
        for i, fb in enumerate(self.feedback):
            rows.append({"variable": f"feedback{i}", "format": fb.describe()})
        return rows


def power_of_two_exponent(x: float) -> int:
    """The smallest e with 2^e >= x (x > 0)."""
    return math.ceil(math.log2(x)) if x > 0 else 0


def weight_fraction(w: np.ndarray, bits: int, headroom: float,
                    trained: Format | None = None) -> int:
    """Fraction bits of a layer's ``bits``-wide weights ``w`` (real units).

    Fresh weights: the range is the smallest power of two >= headroom x max|W| (room to learn).
    Weights a chip trained in format ``trained``: at the same width the trained format, so the
    integers are the trained ones (no re-quantization); at another width the trained
    power-of-two range (no weight saturates beyond the top LSB) with more or fewer fraction
    bits, narrowed to headroom x max|W| when that is smaller (a way to finer steps).
    """
    top = headroom * float(np.abs(w).max()) if w.size else 1.0
    exponent = power_of_two_exponent(top if top > 0 else 1.0)
    if trained is None:
        return bits - 1 - exponent
    if trained.bits == bits:
        return trained.frac
    return bits - 1 - min(exponent, trained.bits - 1 - trained.frac)


def derive_formats(chip, learning, network, *, input_max: float, binary_input: bool,
                   timesteps: int, input_trace: bool, feedback=(),
                   input_min: float = 0.0, trained_weights=None) -> ChipFormats:
    """All formats for ``network`` under the config's chip and learning sections.

    ``trained_weights``: per layer name, the weight Format a chip trained that layer in (an
    imported chipsim run); those layers keep it (``weight_fraction``); '<layer>.bias' keys
    give the biases' trained formats, whose range is kept.
    Raises ConfigError when widths cannot hold the network (threshold beyond the membrane) or
    products would overflow int64, naming the keys to change.
    """
    trained_weights = trained_weights or {}
    bits = chip.bits
    # traces of the layers that feed another (an output layer's spikes feed none)
    spiking = [network.neuron_of(layer) for layer, _ in network.chain[:-1] if layer.spiking]
    leaks = [n.leak for n in spiking] + ([network.neuron.leak] if input_trace else [])
    problems = []
    signed = input_min < 0 and not binary_input
    if binary_input:
        inp = Format(1, 0, signed=False)
    else:
        top = max(input_max, -input_min)
        int_bits = max(0, math.floor(math.log2(top)) + 1) if top > 0 else 0
        inp = Format(bits.input, bits.input - int_bits - signed, signed=signed)
    if signed and input_trace:
        problems.append("network.input_trace: the input has negative values but trace "
                        "registers are unsigned; use input_trace: false")
    trace_max = max([1.0] + [max(1.0, input_max) * trace_bound(lam, timesteps) for lam in leaks])
    trace = Format(bits.trace, bits.trace - max(1, power_of_two_exponent(trace_max)),
                   signed=False)
    if trace.frac < 0 and learning.rule == "none":
        # only learning reads and updates the traces: an inference run never fills them
        trace = Format(bits.trace, 0, signed=False)
    elif trace.frac < 0:
        problems.append(f"chip.bits.trace: traces reach {trace_max:.4g} (a spike every step for "
                        f"T = {timesteps} steps at the layers' leaks); {bits.trace}-bit traces "
                        f"cannot hold that and a single spike (1.0); use chip.bits.trace >= "
                        f"{bits.trace - trace.frac}")
    error = Format(bits.error, bits.error - 2)
    alpha = learning.surrogate.alpha
    surrogate = Format(bits.surrogate, bits.surrogate - (math.floor(math.log2(alpha / 4)) + 1),
                       signed=False)
    lut_entries = 1 << bits.surrogate
    lut_r = power_of_two_exponent(16.0 / alpha)

    lr_eff = learning.optimizer.lr / (learning.batch_size * timesteps)
    e = math.floor(math.log2(lr_eff))
    lr_shift = bits.learning_rate - 1 - e
    lr_mantissa = round(lr_eff * 2.0 ** lr_shift)

    layers = []
    for i, (layer, prefix) in enumerate(network.chain):
        w = network.weights[layer.name]
        pool_shift = 0
        for op in prefix:
            if op.kind != "pool2d":
                continue
            area = op.kernel[0] * op.kernel[1]
            if op.kernel != op.stride or op.padding != (0, 0) or op.kernel[0] != op.kernel[1] \
                    or (op.mode == "avg" and area & (area - 1)) or pool_shift:
                problems.append(f"network.layers: pooling '{op.name}' runs on chip only as one "
                                "square window with stride = kernel, no padding, and (average) "
                                "a power-of-two area")
            elif op.mode == "avg":
                pool_shift = area.bit_length() - 1
        trained = trained_weights.get(layer.name)
        fw = weight_fraction(w, bits.weight, chip.weight_headroom, trained)
        weight = Format(bits.weight, fw)
        neuron = network.neuron_of(layer)
        v_range = chip.membrane_headroom * max(1.0, neuron.threshold)
        fv = min(fw, bits.membrane - 1 - power_of_two_exponent(v_range))
        membrane = Format(bits.membrane, fv)
        threshold = round(neuron.threshold * 2.0 ** fv)
        if layer.spiking and not 0 < threshold <= membrane.hi and fv < fw:
            problems.append(
                f"chip.bits.membrane: layer '{layer.name}' has a {bits.membrane}-bit membrane "
                f"with {fv} fraction bits, so its threshold is {threshold} LSB; use a wider "
                "chip.bits.membrane or a smaller chip.membrane_headroom")
        elif layer.spiking and not 0 < threshold <= membrane.hi:
            # the membrane counts in weight LSBs: only finer weight steps fix the threshold
            kept = (f", the trained range of its s{trained.bits}.{trained.frac} weights"
                    if trained is not None else "")
            problems.append(
                f"chip.weight_headroom: layer '{layer.name}' has {bits.weight}-bit weights "
                f"with {fw} fraction bits (range {weight.lo * weight.lsb:g} to "
                f"{weight.hi * weight.lsb:g}{kept}; max |W| = {float(np.abs(w).max()):.4g}), "
                f"so its threshold {neuron.threshold:g} is {threshold} weight LSB; use "
                "a smaller chip.weight_headroom (range = smallest power of two >= headroom x "
                "max |W|, headroom >= 1) or a wider chip.bits.weight")
        first = i == 0
        pre = trace if (not first or input_trace) else inp
        if first and layer.recurrent and not input_trace:
            # it learns W from x and W_rec from its own trace: a format holding both exactly
            pre = Format(max(inp.bits - inp.frac, trace.bits - trace.frac)
                         + max(inp.frac, trace.frac), max(inp.frac, trace.frac), signed=inp.signed)
        delivery_shift = (inp.frac if first else 0) + fw - fv + pool_shift
        update_shift = lr_shift + error.frac + pre.frac - fw + pool_shift
        if not 0 <= update_shift <= MAX_PRODUCT_BITS:
            problems.append(
                f"learning.optimizer.lr: {learning.optimizer.lr} gives a weight-update shift of "
                f"{update_shift} for layer '{layer.name}', outside [0, {MAX_PRODUCT_BITS}]; "
                "choose a learning rate closer to the weights' resolution")
        surrogate_shift = fv + lut_r + 1 - bits.surrogate
        acc = Format(bits.accumulator, error.frac + pre.frac)
        bias, bias_update_shift = None, 0
        if layer.name in network.biases:
            b = network.biases[layer.name]
            b_top = chip.weight_headroom * float(np.abs(b).max()) if b.size else 0.0
            b_exp = max(bits.weight - 1 - fw, power_of_two_exponent(b_top) if b_top > 0 else 0)
            trained_bias = trained_weights.get(f"{layer.name}.bias")
            if trained_bias is not None:  # as the weights: keep what the chip trained
                b_exp = trained_bias.bits - 1 - trained_bias.frac
            bias = Format(bits.bias, bits.bias - 1 - b_exp)
            bias_update_shift = lr_shift + error.frac - bias.frac
            if not 0 <= bias_update_shift <= MAX_PRODUCT_BITS:
                problems.append(
                    f"learning.optimizer.lr: {learning.optimizer.lr} gives a bias-update shift "
                    f"of {bias_update_shift} for layer '{layer.name}', outside [0, "
                    f"{MAX_PRODUCT_BITS}]; choose another learning rate or chip.bits.bias")
        layers.append(LayerFormat(layer.name, layer.spiking, weight, membrane, threshold,
                                  delivery_shift, pool_shift, pre, update_shift,
                                  surrogate_shift, acc, round(neuron.leak * 2 ** LAMBDA_FRAC),
                                  neuron.firing == ">", reset_mode(neuron), bias,
                                  bias_update_shift,
                                  round(neuron.syn_leak * 2 ** LAMBDA_FRAC) if layer.spiking
                                  else 0))
        fan_in_bits = max(1, layer.n_in).bit_length()
        payload_bits = 1 if not first or binary_input else inp.bits
        if bits.weight + payload_bits + fan_in_bits > MAX_PRODUCT_BITS:
            problems.append(f"chip.bits.weight: {bits.weight}-bit weights x {payload_bits}-bit "
                            f"inputs summed over {layer.n_in} inputs overflow 64-bit arithmetic")
        if layer.kind == "conv2d":
            positions = max(1, layer.out_shape[1] * layer.out_shape[2]).bit_length()
            if bits.learning_rate + bits.error + max(bits.trace, bits.input) + pool_shift \
                    + positions > MAX_PRODUCT_BITS:
                problems.append(f"chip.bits: layer '{layer.name}' sums a kernel's weight change "
                                f"over {layer.out_shape[1] * layer.out_shape[2]} positions; "
                                "learning_rate + error + trace bits leave no room in 64 bits")
        fan_out_bits = max(1, layer.n_out).bit_length()
        if bits.weight + bits.error + fan_out_bits > MAX_PRODUCT_BITS:
            problems.append(f"chip.bits.error: {bits.error}-bit errors x {bits.weight}-bit "
                            "weights overflow 64-bit arithmetic in the backward read")
    if bits.learning_rate + bits.error + max(bits.trace, bits.input) > MAX_PRODUCT_BITS:
        problems.append(f"chip.bits: learning_rate ({bits.learning_rate}) + error "
                        f"({bits.error}) + max(trace, input) ({max(bits.trace, bits.input)}) "
                        f"bits must be <= {MAX_PRODUCT_BITS} for the weight-update product")
    if bits.learning_rate + bits.accumulator > MAX_PRODUCT_BITS:
        problems.append(f"chip.bits: learning_rate ({bits.learning_rate}) + accumulator "
                        f"({bits.accumulator}) bits must be <= {MAX_PRODUCT_BITS}")
    if problems:
        raise ConfigError("the chip's number formats cannot hold this network:\n"
                          + "\n".join(f"  {p}" for p in problems))
    fb_formats = tuple(Format(bits.weight, bits.weight - 1 - power_of_two_exponent(
        float(np.abs(b).max()) or 1.0)) for b in feedback)
    return ChipFormats(inp, binary_input, trace, error, surrogate,
                       round(network.neuron.leak * 2 ** LAMBDA_FRAC), lr_mantissa, lr_shift,
                       lut_entries, lut_r, tuple(layers), fb_formats)
