"""summary.md: the tables a person reads after a run."""


def summary_markdown(report: dict) -> str:
    d, net = report["data"], report["network"]
    shape = "-".join([str(d["n_inputs"])] + [str(l["n_out"]) for l in net["layers"]])
    lines = [f"# {report['name']}", "",
             f"- run: {report['run']['label']}",
             f"- network: {shape} ({net['parameters']} parameters)",
             f"- data: {d['name']}, {d['n_train']} train / {d['n_test']} test samples, "
             f"{d['n_inputs']} inputs, {d['n_classes']} classes, T = {d['timesteps']}, "
             f"encoding {d['encoding']}",
             f"- final test accuracy: **{100 * report['final']['test_accuracy']:.2f} %**",
             f"- wall time: {report['seconds']:.1f} s", "",
             "| epoch | train accuracy (during learning) | test accuracy | train time (s) |",
             "|---:|---:|---:|---:|"]
    for e in report["epochs"]:
        train = "" if e["train_accuracy"] is None else f"{100 * e['train_accuracy']:.2f} %"
        lines.append(f"| {e['epoch']} | {train} | {100 * e['test_accuracy']:.2f} % "
                     f"| {e['seconds']:.2f} |")
    if "chip" in report:
        lines += _chip_tables(report["chip"])
    return "\n".join(lines) + "\n"


def _chip_tables(chip: dict) -> list[str]:
    lines = ["", "## Chip", "", f"- rule: {chip['rule']} (needs: {', '.join(chip['rule_needs']) or '-'})",
             f"- weight-update rounding: {chip['rounding']}"]
    if chip["error_unit"]:
        lines.append(f"- output error unit: {chip['error_unit']}")
    lines += ["", "| variable | format |", "|---|---|"]
    lines += [f"| {row['variable']} | {row['format']} |" for row in chip["formats"]]
    lines += ["", "Quantization of the initial weights:", "",
              "| layer | format | saturated | max error | rms error | zero fraction |",
              "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {q['layer']} | {q['format']} | {q['saturated']} | {q['max_abs_error']:.3g} "
              f"| {q['rms_error']:.3g} | {q['zero_fraction']:.3f} |" for q in chip["quantization"]]
    for part in ("training", "inference"):
        per = chip["counts_per_sample"][part]
        if not chip["samples"][part]:
            continue
        layers = list(per)
        events = [e["event"] for e in chip["events"]
                  if any(per[l][e["event"]] for l in layers)]
        lines += ["", f"Events per {part} sample ({chip['samples'][part]} samples):", "",
                  "| event | " + " | ".join(layers) + " |",
                  "|---|" + "---:|" * len(layers)]
        lines += [f"| {e} | " + " | ".join(f"{per[l][e]:.1f}" for l in layers) + " |"
                  for e in events]
    over = {k: v for k, v in chip["overflows"].items() if v}
    lines += ["", "Overflows (saturated values): "
              + (", ".join(f"{k.removeprefix('overflow_')} {v}" for k, v in over.items())
                 if over else "none")]
    return lines
