"""The README's "Measured" rows for the main job, made by running it: the digits network on
the chip (examples/digits_ottt.yaml as shipped, OTTT_A) and with OTTT_O at batch 1, through
the public API. Writes bench/results/readme_numbers.json and, with --write-readme, the rows
between the markers in README.md. tests/test_readme_numbers.py fails when the README, the
stored numbers and what the code gives today disagree.

Run: python bench/readme_numbers.py [--write-readme]   (about 20 s with compiled kernels)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import chipsim  # noqa: E402
from chipsim.report.writer import write_json, write_text  # noqa: E402

CONFIG = ROOT / "examples" / "digits_ottt.yaml"
RESULTS = ROOT / "bench" / "results" / "readme_numbers.json"
BEGIN = "<!-- rows from bench/readme_numbers.py (do not edit by hand): begin -->"
END = "<!-- rows from bench/readme_numbers.py: end -->"
JOBS = {"main": [], "variant_O": ["learning.variant=O", "learning.batch_size=1"]}


def measure() -> dict:
    """The numbers the rows quote, per job (all deterministic for the config's seed)."""
    out = {}
    for job, overrides in JOBS.items():
        sim = chipsim.Simulation(CONFIG, overrides=[*overrides, "output.plots=false"])
        sim.train()
        report = sim.report()
        costs = report["costs"]
        energy = {part: {table: e["per_sample_pJ"] for table, e in costs[part]["energy"].items()}
                  for part in ("inference", "training")}
        training = costs["training"]["energy"][costs["primary_energy_table"]]
        top = sorted(training["by_event_pJ"].items(), key=lambda kv: -kv[1])[:2]
        out[job] = {
            "overrides": overrides,
            "test_accuracy": report["final"]["test_accuracy"],
            "test_loss": report["final"]["test_loss"],
            "epochs": len(report["epochs"]) - 1,
            "training_samples": costs["training"]["samples"],
            "energy_per_sample_pJ": energy,
            "training_top_events": [[e, pj / training["total_pJ"]] for e, pj in top],
            "cycles_per_step": {part: costs[part]["cycles"]["per_step"]
                                for part in ("inference", "training")},
            "layer_of_core": {str(core): name for name, cores in
                              costs["placement"]["layers"].items() for core in cores},
            "memory_ottt_vs_bptt": costs["memory"]["ottt_vs_bptt"],
        }
    return out


def rows(numbers: dict) -> str:
    """The markdown rows of the README's Measured table for the main job."""
    main, var_o = numbers["main"], numbers["variant_O"]
    e, c = main["energy_per_sample_pJ"], main["cycles_per_step"]
    mem = main["memory_ottt_vs_bptt"]
    mem_o = var_o["memory_ottt_vs_bptt"]
    uj = "{:.3f} uJ".format
    top = " and ".join(f"{ev.replace('_', ' ')} ({100 * share:.0f} %)"
                       for ev, share in main["training_top_events"])
    command = "`chipsim run examples/digits_ottt.yaml`"
    return "\n".join([
        f"| digits net on chip (OTTT_A, batch 8, {main['epochs']} epochs): test accuracy, "
        f"test loss | {command} | {100 * main['test_accuracy']:.2f} %, loss "
        f"{main['test_loss']:.3f} |",
        f"| its energy per inference (mean over the test set) / per training sample (mean over "
        f"all {main['training_samples']:,} samples learned, every epoch) | same | loihi2018: "
        f"{uj(e['inference']['loihi2018'] / 1e6)} / {uj(e['training']['loihi2018'] / 1e6)}; "
        f"horowitz45: {uj(e['inference']['horowitz45'] / 1e6)} / "
        f"{uj(e['training']['horowitz45'] / 1e6)}; training dominated by {top} |",
        f"| its time step | same | {c['inference']['latency_cycles']:,.0f} cycles inference "
        f"(slowest core: {c['inference']['critical_core']}, layer "
        f"{main['layer_of_core'][str(c['inference']['critical_core'])]}, "
        f"{c['inference']['critical_phase'].replace('_', ' ')}), "
        f"{c['training']['latency_cycles']:,.0f} training |",
        f"| training memory beyond weights, OTTT_A vs BPTT, T = {mem[0]['T']} ... "
        f"{mem[-1]['T']} | same (`summary.md`) | OTTT {mem[0]['ottt_state_bits']:,} bits at "
        f"every T; BPTT {mem[0]['bptt_state_bits']:,} ... {mem[-1]['bptt_state_bits']:,} "
        f"(x{mem[0]['state_ratio']:.2f} ... x{mem[-1]['state_ratio']:.2f}); OTTT_A's "
        f"per-synapse accumulators dominate its memory |",
        f"| same with OTTT_O (no accumulators), batch 1 | `... --set learning.variant=O --set "
        f"learning.batch_size=1` | {100 * var_o['test_accuracy']:.2f} % test; OTTT "
        f"{mem_o[0]['ottt_state_bits']:,} bits at every T vs BPTT x{mem_o[0]['state_ratio']:.0f}"
        f" (T = {mem_o[0]['T']}) ... x{mem_o[-1]['state_ratio']:.0f} (T = {mem_o[-1]['T']}); "
        f"training {uj(var_o['energy_per_sample_pJ']['training']['loihi2018'] / 1e6)} per "
        f"sample (loihi2018) |",
    ])


def readme_with(text: str, block: str) -> str:
    """README text with the rows between the markers replaced by ``block``."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + block + "\n" + text[end:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-readme", action="store_true",
                        help="rewrite the rows between the markers in README.md")
    args = parser.parse_args()
    numbers = measure()
    write_json(RESULTS, numbers)
    print(rows(numbers))
    if args.write_readme:
        readme = ROOT / "README.md"
        write_text(readme, readme_with(readme.read_text(), rows(numbers)))
        print(f"-> {readme}")


if __name__ == "__main__":
    main()
