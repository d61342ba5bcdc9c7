"""The chip part of report.json: formats, rule, quantization and event counts."""
from chipsim.chip import counters as ev


def chip_section(chip, quantization: list[dict], train_samples: int, test_samples: int) -> dict:
    """Counts are totals (training: every sample learned; inference: the final test pass)
    and per sample; ``events`` documents each counter's phase and meaning."""
    counts = chip.counts()
    per_sample = {
        "training": _divide(counts["training"], train_samples),
        "inference": _divide(counts["inference"], test_samples),
    }
    overflows = {name: sum(layer[name] for part in counts.values() for layer in part.values())
                 for name in ev.NAMES if name.startswith("overflow_")}
    rule = chip.rule
    return {
        "rule": rule.name if rule else "none (inference only)",
        "rule_needs": sorted(rule.needs) if rule else [],
        "error_unit": rule.error_unit if rule else None,
        "rounding": ["floor", "nearest", "stochastic"][int(chip.memories.rounding)],
        "formats": chip.formats.table(),
        "quantization": quantization,
        "events": [{"event": n, "phase": p, "meaning": m} for n, p, m in ev.EVENTS],
        "counts": counts,
        "counts_per_sample": per_sample,
        "samples": {"training": train_samples, "inference": test_samples},
        "overflows": overflows,
    }


# (saturations, the writes they are a share of, the key that widens the variable)
SATURATIONS = (("overflow_accumulator", "accumulator_updates",
                "chip.bits.accumulator (or narrow chip.bits.error, which feeds it)"),
               ("overflow_weight", "weight_updates", "chip.bits.weight (or chip.weight_headroom)"),
               ("overflow_error", "modulator_ops", "chip.bits.error"))
SATURATION_WARNING = 0.01  # of a layer's writes of that variable while training


def saturation_warnings(chip_report: dict) -> list[str]:
    """A line per layer and variable where more than 1 % of the training writes saturated:
    learning degrades there (a count alone in report.json is easy to miss)."""
    out = []
    for layer, c in chip_report["counts"]["training"].items():
        for saturated, writes, key in SATURATIONS:
            if c.get(writes) and c[saturated] > SATURATION_WARNING * c[writes]:
                out.append(f"layer '{layer}': {c[saturated]:,} of {c[writes]:,} "
                           f"{writes.replace('_', ' ')} saturated "
                           f"({100 * c[saturated] / c[writes]:.1f} %) while training; learning "
                           f"suffers: widen {key}")
    return out


def _divide(part: dict, n: int) -> dict:
    return {layer: {k: (v / n if n else 0.0) for k, v in c.items()} for layer, c in part.items()}
