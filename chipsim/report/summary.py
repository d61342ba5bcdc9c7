"""summary.md: the tables a person reads after a run."""


def wall_time(report: dict) -> str:
    """'31.2 s (27.0 s of it compiling the chip's kernels, first run only)'."""
    compiling = report.get("compile_seconds") or 0.0
    return f"{report['seconds']:.1f} s" + (
        f" ({compiling:.1f} s of it compiling the chip's kernels, first run only)"
        if compiling else "")


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
             f"- wall time: {wall_time(report)}", "",
             "| epoch | train accuracy (during learning) | test accuracy | train loss "
             "| test loss | train time (s) |",
             "|---:|---:|---:|---:|---:|---:|"]
    for e in report["epochs"]:
        train = "" if e["train_accuracy"] is None else f"{100 * e['train_accuracy']:.2f} %"
        losses = [f"{e[k]:.4f}" if e.get(k) is not None else "" for k in ("train_loss",
                                                                         "test_loss")]
        lines.append(f"| {e['epoch']} | {train} | {100 * e['test_accuracy']:.2f} % "
                     f"| {losses[0]} | {losses[1]} | {e['seconds']:.2f} |")
    lines += ["", "Loss: OTTT's, per sample the sum over the T steps of ((1 - m) cross-entropy "
              "+ m MSE) / T of the output layer's u[t], m = learning.loss.mse_weight; train: "
              "while learning (online), test: after the epoch."]
    if "chip" in report:
        lines += _chip_tables(report["chip"])
    if "costs" in report:
        lines += costs_markdown(report["costs"])
    if "neurobench" in report:
        lines += neurobench_markdown(report["neurobench"])
    return "\n".join(lines) + "\n"


def neurobench_markdown(nb: dict) -> list[str]:
    """NeuroBench's metrics of the last test pass (report.neurobench)."""
    def value(v, fmt):
        return "-" if v is None else format(v, fmt)
    return ["", "## NeuroBench metrics", "",
            f"Per test sample over the last test pass ({nb['samples']:,} samples), "
            f"{nb['source']}; definitions in chipsim/report/neurobench.py.", "",
            "| metric | value |", "|---|---:|",
            f"| Footprint (bytes, storage types) | {nb['footprint_bytes']:,} |",
            f"| ConnectionSparsity | {nb['connection_sparsity']:.4f} |",
            f"| ActivationSparsity | {value(nb['activation_sparsity'], '.4f')} |",
            f"| SynapticOperations Effective_MACs | {nb['effective_macs']:,.1f} |",
            f"| SynapticOperations Effective_ACs | {nb['effective_acs']:,.1f} |",
            f"| SynapticOperations Dense | {nb['dense_synaptic_ops']:,} |",
            f"| MembraneUpdates | {nb['membrane_updates']:,.1f} |",
            f"| ClassificationAccuracy | {nb['classification_accuracy']:.4f} |"]


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
    lines += [f"| {q['layer']} | {q['format']}"
              + (f", trained as {q['trained_format'].split()[0]}" if "trained_format" in q else "")
              + f" | {q['saturated']} | {q['max_abs_error']:.3g} "
              f"| {q['rms_error']:.3g} | {q['zero_fraction']:.3f} |" for q in chip["quantization"]]
    for part in ("training", "inference"):
        per = chip["counts_per_sample"][part]
        if not chip["samples"][part]:
            continue
        layers = list(per)
        events = [e["event"] for e in chip["events"]
                  if any(per[l][e["event"]] for l in layers)]
        meaning = {e["event"]: e["meaning"] for e in chip["events"]}
        lines += ["", f"Events per {part} sample ({chip['samples'][part]} samples):", "",
                  "| event | " + " | ".join(layers) + " | what it counts |",
                  "|---|" + "---:|" * len(layers) + "---|"]
        lines += [f"| {e} | " + " | ".join(f"{per[l][e]:.1f}" for l in layers)
                  + f" | {meaning[e]} |" for e in events]
    rates = chip.get("spike_rates_after_quantization", {})
    if rates:
        lines += ["", "Spike rates right after quantization (test set, before learning): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in rates.items())
                  + (f". Silent layers: {', '.join(chip['silent_layers_after_quantization'])}."
                     if chip["silent_layers_after_quantization"] else ".")]
    over = {k: v for k, v in chip["overflows"].items() if v}
    lines += ["", "Overflows (values that left their format, then saturated or wrapped as "
              "chip.overflow says; every training sample and the final test pass): "
              + (", ".join(f"{k.removeprefix('overflow_')} {v}" for k, v in over.items())
                 if over else "none")]
    return lines


def costs_markdown(costs: dict) -> list[str]:
    """Placement, energy, cycles, memory and the OTTT vs BPTT memory table."""
    place = costs["placement"]
    lines = ["", "## Costs", "",
             f"Placement: {place['cores_used']} of {place['cores_available']} cores "
             f"(mesh {place['mesh'][0]} x {place['mesh'][1]}); "
             + ", ".join(f"{name}: cores {ids}" for name, ids in place["layers"].items()), ""]
    primary = costs["primary_energy_table"]
    lines += ["| energy per sample | " + " | ".join(costs["energy_tables"]) + " |",
              "|---|" + "---:|" * len(costs["energy_tables"])]
    for part in ("inference", "training"):
        if part in costs:
            e = costs[part]["energy"]
            what = (f"inference (mean over the {costs[part]['samples']:,} test samples)"
                    if part == "inference" else f"training (mean over all "
                    f"{costs[part]['samples']:,} samples learned, every epoch)")
            lines.append(f"| {what} | " + " | ".join(f"{e[t]['per_sample_pJ'] / 1e6:.3f} uJ"
                                                     for t in costs["energy_tables"]) + " |")
    widths = costs.get("energy_tables_width_dependent", {})
    lines += ["", "Tables whose energies change with the bit widths: "
              + (", ".join(t for t, d in widths.items() if d) or "none") + "; the same at "
              "every width: " + (", ".join(t for t, d in widths.items() if not d) or "none")
              + "."]
    for part in ("inference", "training"):
        if part not in costs:
            continue
        p = costs[part]
        by_event = p["energy"][primary]["by_event_pJ"]
        total = p["energy"][primary]["total_pJ"] or 1.0
        lines += ["", f"{part.capitalize()}: energy by event ({primary}), per sample", "",
                  "| event | count per sample | pJ each | share |", "|---|---:|---:|---:|"]
        for event, pj in sorted(by_event.items(), key=lambda kv: -kv[1]):
            if pj == 0:
                continue
            per = p["events_total"][event] / p["samples"]
            each = costs["energy_tables"][primary][event]["pJ"]
            lines.append(f"| {event} | {per:,.1f} | {each:g} | {100 * pj / total:.1f} % |")
        c = p["cycles"]["per_step"]
        lines += ["", f"Time step ({part}): {c['latency_cycles']:,.0f} cycles "
                  f"({c['latency_us']:.2f} us at the clock; real-time factor "
                  f"{c['realtime_factor']:.1f}, the chip's speed against real time when one "
                  f"step stands for chip.cycles.realtime_step_us): slowest core "
                  f"{c['critical_core']} "
                  f"({c['core_cycles']:,.0f} cycles, mostly {c['critical_phase']}), routing "
                  f"{c['routing_cycles']:,.1f}, barrier {c['barrier_cycles']:g}. Spike rates: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in p["spike_rates"].items()) + "."]
    mem = costs["memory"]
    lines += ["", "Memory per core (bits):", "",
              "| core | layer | neurons | axons | SRAM used / available | weights | "
              "accumulators | feedback | transposed copy | neuron state | traces | routing |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in mem["per_core"]:
        lines.append(f"| {r['core']} | {r['layer']} | {r['neurons']} | {r['axons']} | "
                     f"{r['sram_used']:,} / {r['sram_available']:,} "
                     f"({100 * r['sram_utilization']:.1f} %) | {r['sram_weights']:,} | "
                     f"{r['sram_accumulators']:,} | {r['sram_feedback']:,} | "
                     f"{r['sram_transposed_copy']:,} | {r['neuron_state']:,} | "
                     f"{r['trace_registers']:,} | {r['routing_table']:,} |")
    lines += ["", "Training memory beyond the weights, OTTT (this run's rule) against BPTT on the "
              "same network (BPTT keeps every step's membranes, spikes and inputs):", "",
              "| T | OTTT (bits) | BPTT (bits) | BPTT / OTTT | with weights |",
              "|---:|---:|---:|---:|---:|"]
    for r in mem["ottt_vs_bptt"]:
        lines.append(f"| {r['T']} | {r['ottt_state_bits']:,} | {r['bptt_state_bits']:,} | "
                     f"{r['state_ratio']:.2f} | {r['total_ratio']:.2f} |")
    return lines


def mapping_markdown(report: dict, brief: bool = False) -> str:
    """mapping.md of ``chipsim map`` (``brief``: the lines printed on the terminal)."""
    p, inf = report["placement"], report["inference"]
    rates = inf["assumed_rates"]
    lines = [f"# Mapping of {report['model']}", "",
             f"{p['cores_used']} of {p['cores_available']} cores (mesh {p['mesh'][0]} x "
             f"{p['mesh'][1]}), conv weights {p['conv_weights']}"
             + (f", NIR read with the '{report['nir_convention']}' convention"
                if report.get("nir_convention") else ""), "",
             "| layer | kind | neurons | cores | input groups | synapses | SRAM (KiB) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for l in p["layers"]:
        lines.append(f"| {l['name']} | {l['kind']} | {l['neurons']:,} | {l['cores']} | "
                     f"{l['input_groups']} | {l['synapses']:,} | {l['sram_bits'] / 8192:,.1f} |")
    c = inf["cycles"]["per_step"]
    lines += ["", f"One inference of T = {inf['steps']} steps at assumed spike rates (input "
              f"{rates['input']}, spiking layers {rates['spiking_layers']}):", ""]
    bits = report["config"]["chip"]["bits"]
    lines += [f"- energy ({name}): {e['total_pJ'] / 1e6:,.4g} uJ ({name} table, "
              f"{bits['weight']}-bit weights, {bits['membrane']}-bit membranes)"
              for name, e in inf["energy"].items()]
    lines += [f"- time step: {c['latency_cycles']:,.0f} cycles ({c['latency_us']:.1f} us), "
              f"slowest core {c['critical_core']} ({c['critical_phase']}); real-time factor "
              f"{c['realtime_factor']:.1f}"]
    if brief:
        return "\n".join(lines)
    total = report["memory"]["total"]
    lines += ["", f"Memory: {total['sram_used']:,} bits of synapse SRAM used of "
              f"{total['sram_available']:,} on the cores used; neuron state "
              f"{total['neuron_state']:,} bits; routing tables {total['routing_table']:,} bits.",
              "", "| event | expected count | "
              + " | ".join(inf["energy"]) + " (pJ) |", "|---|---:|" + "---:|" * len(inf["energy"])]
    for event, count in inf["events_total"].items():
        if count:
            lines.append(f"| {event} | {count:,.0f} | " + " | ".join(
                f"{e['by_event_pJ'][event]:,.0f}" for e in inf["energy"].values()) + " |")
    return "\n".join(lines) + "\n"
