"""The README's "Measured" table, rendered from the stored results of the commands it names,
so that its numbers cannot drift from what those commands give.

- The main job's rows: this script runs the digits network on the chip (examples/digits_ottt.yaml
  as shipped, OTTT_A) and with OTTT_O at batch 1 through the public API and stores the numbers
  in bench/results/readme_numbers.json (about 20 s with compiled kernels).
- Fidelity rows (the authors' golden data, wide formats vs float64, snnTorch's network): the
  tests measure them; ``--tests`` runs those tests with ``CHIPSIM_MEASURE_INTO`` and stores
  what they measured in bench/results/measured.json (a few minutes). In every ordinary test run
  the same tests fail when a value no longer matches the stored one (tests/conftest.py).
- Accuracy against weight width and rounding, speed, start-up time and memory: their benchmarks
  (bench/quantization.py, chip_speed.py, compile_time.py, training_memory.py) store them in
  bench/results/*.json; this script only renders them.

``--write-readme`` rewrites the table between the markers in README.md, and the temporal
tasks' accuracy tables between their own markers.
tests/test_readme_numbers.py fails when the README differs from what the stored results render
and when the main job's numbers differ from what the code gives today.

Run: python bench/readme_numbers.py [--tests] [--write-readme] [--render]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import chipsim  # noqa: E402
from chipsim.report.writer import write_json, write_text  # noqa: E402

CONFIG = ROOT / "examples" / "digits_ottt.yaml"
STORED = ROOT / "bench" / "results"
RESULTS = STORED / "readme_numbers.json"
SOURCES = {"main": RESULTS, "measured": STORED / "measured.json",
           "quantization": STORED / "quantization.json", "speed": STORED / "chip_speed.json",
           "memory": STORED / "training_memory.json", "startup": STORED / "compile_time.json",
           "sanafe": STORED / "sanafe_crosscheck.json", "temporal": STORED / "temporal.json",
           "spoken_digits": STORED / "temporal_spoken_digits.json"}
BEGIN = "<!-- rows from bench/readme_numbers.py (do not edit by hand): begin -->"
END = "<!-- rows from bench/readme_numbers.py: end -->"
TEMPORAL_BEGIN = "<!-- temporal table from bench/readme_numbers.py (do not edit by hand): begin -->"
TEMPORAL_END = "<!-- temporal table from bench/readme_numbers.py: end -->"
SPOKEN_BEGIN = "<!-- spoken digits table from bench/readme_numbers.py (do not edit by hand): begin -->"
SPOKEN_END = "<!-- spoken digits table from bench/readme_numbers.py: end -->"
JOBS = {"main": [], "variant_O": ["learning.variant=O", "learning.batch_size=1"]}
# the tests that measure the fidelity rows' numbers (conftest.measured)
MEASURING_TESTS = [["tests/test_golden.py", "tests/test_ottt_vgg_golden.py",
                    "tests/test_snntorch_fidelity.py"], ["tests/test_chip.py", "-k", "wide"],
                   ["tests/test_mapping.py", "-k", "vgg11_maps"]]


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


def measure_in_tests() -> dict:
    """Run the measuring tests; returns {key: value} as they measured it."""
    with tempfile.TemporaryDirectory(prefix="chipsim-measured-") as folder:
        into = Path(folder) / "measured.json"
        env = {**os.environ, "CHIPSIM_MEASURE_INTO": str(into)}
        for args in MEASURING_TESTS:
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            *args], cwd=ROOT, env=env, check=True)
        return json.loads(into.read_text())


def load_stored() -> dict:
    """Every stored result the table renders, by source (see SOURCES)."""
    return {name: json.loads(path.read_text()) for name, path in SOURCES.items()}


def sci(value: float) -> str:
    """2 significant digits as the tests check them: 1.4e-5, 2e-6."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def pct(fraction: float) -> str:
    return f"{100 * fraction:.2f} %"


def fidelity_rows(m: dict) -> list[str]:
    """The float64 and chip fidelity rows, from what the tests measured."""
    def values(prefix):
        return [v for k, v in m.items() if k.startswith(prefix)]
    golden, vgg, wide = values("golden/"), values("vgg/"), values("wide/")

    def snn(key):
        return m[f"snntorch/{key}"]

    tests = "(numbers: `python bench/readme_numbers.py --tests`)"
    return [
        "| float64 OTTT_A/O and BPTT reproduce the authors' final weights, steps, spikes, "
        f"traces, gradients | `pytest tests/test_golden.py` {tests} | largest relative error "
        f"{sci(max(golden))} (rounding level; tolerance 1e-9) |",
        "| chip with wide formats (32-bit weights, 20-bit errors and traces) vs float64, golden "
        "nets, 2 epochs, A/O x backprop/broadcast | `pytest tests/test_chip.py -k wide` | "
        f"relative difference {sci(min(wide))} to {sci(max(wide))} (tolerance 1e-4) |",
        "| chip with wide formats vs float64, every neuron option (firing '>' + zero reset, IF, "
        "per-layer neurons + biases, snnTorch's neuron + biases + spiking output), 20-12-8-4, "
        "2 epochs | `pytest tests/test_neuron_options.py -k wide` | weights within 1e-4 "
        "relative (A) / 3e-4 (O, which rounds every step's update), biases within 1e-3 (they "
        "start at 0): the tolerances asserted for each option and variant |",
        "| snnTorch's tutorial digits network (biases, Leaky beta 0.95, spiking output, T = 25) "
        "from `torch.save` and from `export_to_nir` | `python examples/from_snntorch.py --trained "
        "tests/data/snntorch_digits.pt` "
        "(`pytest tests/test_snntorch_fidelity.py` checks it) | float64: every spike count "
        f"identical to snnTorch's on all 451 test samples, {pct(snn('accuracy'))} as snnTorch; "
        f"chip 16-bit weights / 24-bit membrane {pct(snn('chip16-pt/accuracy'))}, output counts "
        f"identical on {100 * snn('chip16-pt/identical'):.1f} % of samples; 8-bit "
        f"{pct(snn('chip8-pt/accuracy'))}; 8-bit + 2 epochs of on-chip OTTT "
        f"{pct(snn('chip8-pt-ottt/accuracy'))} |",
        "| OTTT authors' VGG (their WS convs, x2.74, plain read-out), float64 OTTT_A / OTTT_O / "
        f"BPTT weight changes vs their code | `pytest tests/test_ottt_vgg_golden.py` {tests} | "
        f"largest relative error {sci(max(vgg))} (rounding level; tolerance 1e-9) |",
    ]


def quantization_rows(q: dict) -> list[str]:
    """Digits accuracy against weight width and rounding (bench/quantization.py)."""
    cell = {(r["arithmetic"], r["rounding"]): r for r in q["rows"]}

    def mean(bits, rounding):
        return f"{cell[(f'chip, {bits}-bit weights', rounding)]['mean']:.2f} %"

    ref, eight = cell[("float64 reference", "-")], cell[("chip, 8-bit weights", "stochastic")]
    seeds = f"seeds {q['seeds'][0]}-{q['seeds'][-1]}"
    modes = ("stochastic", "nearest", "floor")
    return [
        f"| digits, float64 OTTT_A, 64-128-10, T = 6, {q['epochs']} epochs | "
        "`python bench/quantization.py` (each run: `chipsim run examples/digits_ottt.yaml "
        f"--set chip.arithmetic=float64 --set seed=S`) | {ref['mean']:.2f} % mean over {seeds} "
        f"({ref['min']:.2f}-{ref['max']:.2f}) |",
        "| digits on chip, 8-bit weights, stochastic rounding | same | "
        f"{eight['mean']:.2f} % mean ({eight['min']:.2f}-{eight['max']:.2f}) |",
        f"| same, nearest / floor rounding | same | {mean(8, 'nearest')} / {mean(8, 'floor')} |",
        "| same, 4-bit weights, stochastic / nearest / floor | same | "
        + " / ".join(mean(4, r) for r in modes) + " |",
        "| same, 16-bit weights, stochastic / nearest / floor | same | "
        + " / ".join(mean(16, r) for r in modes) + " |",
    ]


def speed_rows(speed: dict) -> list[str]:
    """Inference and training speed against their baselines (bench/chip_speed.py)."""
    rate = {(r["threads"], r["path"].split(" (")[0].split(",")[0]): r
            for r in speed["inference"]}
    bare, kernel, cli, dense = ("bare numba kernel", "chip inference kernel alone",
                                "whole CLI run", "dense numpy float32")

    def scale(path):  # 2 threads over 1
        return rate[(2, path)]["events_per_s"] / rate[(1, path)]["events_per_s"]
    # the CLI row's path says "(large - small samples)"
    large, small = map(int, re.search(r"\((\d+) - (\d+) samples\)",
                                      rate[(1, cli)]["path"]).groups())

    learner = {r["learner"].split(",")[0]: r["samples_per_s"] for r in speed["training"]}
    chip_a, chip_o = learner["chip OTTT_A"], learner["chip OTTT_O"]
    numpy_a = learner["plain numpy float32 OTTT_A"]
    shared = ("timed on a shared machine: the ratios move by several hundredths from run to "
              "run, the rates more")
    return [
        "| inference through the whole CLI (`chipsim run`, learning.rule none), 784-1024-10 LIF, "
        "T = 100, rate-0.1 spikes from a uint8 npz, 16-bit weights: marginal rate over "
        f"{small:,} and {large:,} test samples, against a bare numba kernel (int16 weights, "
        "int32 dendrites and membranes, the chip's arithmetic, no counters) in the same run | "
        "`python bench/chip_speed.py` (table: `bench/results/chip_speed.md`) | last run: "
        f"1 thread: CLI {sci(rate[(1, cli)]['events_per_s'])} synaptic events/s, "
        f"{rate[(1, cli)]['ratio']:.2f} of bare; chip kernel alone "
        f"{rate[(1, kernel)]['ratio']:.2f}; dense numpy float32 {rate[(1, dense)]['ratio']:.2f}. "
        f"2 threads: CLI {rate[(2, cli)]['ratio']:.2f} of bare and {scale(cli):.2f}x its own "
        f"1-thread rate (bare {scale(bare):.2f}x, chip kernel alone {scale(kernel):.2f}x); "
        f"{shared} |",
        "| on-chip OTTT, 784-512-10, T = 4, Bernoulli(0.1) inputs, 1 thread, every counter "
        "counted, against a plain-numpy float32 OTTT_A (batched matmuls, BLAS on 1 thread), the "
        "learners taking turns round by round | same | last run: chip OTTT_A (batch 64) "
        f"{chip_a:,.0f} samples/s = {chip_a / numpy_a:.2f} of numpy's {numpy_a:,.0f}; OTTT_O "
        f"(batch 1) {chip_o:,.0f}; building the chip is not timed; {shared} |",
    ]


def startup_rows(start: dict) -> list[str]:
    """The main job's cold and warm start (bench/compile_time.py)."""
    return [
        "| the README's main job, first run in a new environment (empty numba cache) and later "
        "runs, wall time with figures | `python bench/compile_time.py` | last run: "
        f"{start['cold_seconds']:.1f} s cold, of which {start['compile_seconds']:.1f} s "
        "compiling (the training kernel in a helper process while the run compiles and uses the "
        f"inference kernel); {start['warm_seconds']:.1f} s warm (best of "
        f"{len(start['warm_runs_seconds'])} runs, median {start['warm_median_seconds']:.1f} s); "
        "timed on a shared machine whose timings spread by up to 1.5x from hour to hour |",
    ]


def memory_rows(mem: dict) -> list[str]:
    """Simulator memory against T (bench/training_memory.py)."""
    first, last = (str(t) for t in (mem["steps"][0], mem["steps"][-1]))
    run = mem["in_process"]

    def ratio(label, key):
        return run[label][last][key] / run[label][first][key]

    traced = [v["traced_peak_bytes"] / 1024 for label in ("chip OTTT_A", "chip OTTT_O")
              for v in run[label].values()]
    cli = mem["cli_peak_rss_kib"]

    def cli_ratio(label):
        return cli[label][last] / cli[label][first]

    return [
        f"| simulator training memory, T = {first} to {last} | "
        "`python bench/training_memory.py` | in-process peak RSS "
        f"x{ratio('chip OTTT_A', 'rss_kib'):.2f} (chip OTTT_A) and "
        f"x{ratio('chip OTTT_O', 'rss_kib'):.2f} (OTTT_O) from T = {first} to {last}; traced "
        f"allocations of the chip at most {max(traced):.1f} KiB at every T (OTTT_A's flush "
        "scratch grows with the steps logged per batch up to the log's depth); float64 BPTT "
        f"traced x{ratio('float64 BPTT', 'traced_peak_bytes'):.0f}; through the CLI (the whole "
        f"`chipsim run` process, digits, 1 epoch) x{cli_ratio('chip OTTT_A'):.3f} for OTTT_A "
        f"and x{cli_ratio('chip OTTT_O'):.3f} for OTTT_O ({cli['chip OTTT_A'][first] / 1024:.0f} "
        f"MiB at T = {first}) |",
    ]


def cost_model_rows(cross: dict, m: dict) -> list[str]:
    """The SANA-FE cross-check (bench/sanafe_crosscheck.py) and the VGG-11 mapping."""
    rows = []
    for r in cross["networks"]:
        e, lat = r["energy_per_step_pJ"]["total"], r["latency_per_step_us"]
        spikes = sum(layer["chipsim"] for layer in r["layers"])
        what = ("SANA-FE's shipped DVS-gesture CNN and input frame (4 convs + dense, "
                f"{r['cores']} cores)" if r["network"] == "dvs" else
                "a digits net trained on chip (64-128-10 IF, `examples/sanafe_digits.yaml`, "
                f"{r['accuracy'] * 100:.2f} % test), 20 rate-coded test digits")
        same = ("identical in every layer" if r["spikes_identical"] else "NOT identical")
        counted = [k for k in ("neuron spikes", "synaptic events (synapses looked up)",
                               "messages (input + spike packets)")
                   if r["events"][k][0] != r["events"][k][1]]
        events = ("synaptic events and messages identical" if not counted else
                  "differences in " + ", ".join(counted))
        exact = ("identical" if round(e[2], 3) == round(e[1], 3) else f"{e[2] / e[1]:.4f}x")
        rows.append(
            f"| {what}, {r['steps']} steps, in chipsim (`chip.preset: sanafe_loihi`) and in "
            "SANA-FE 2.2.9 (its Loihi model, the same placement and input spikes) | "
            "`python bench/sanafe_crosscheck.py` (table: `bench/results/sanafe_crosscheck.md`) | "
            f"spikes {same} ({spikes:,}), {events}; energy per "
            f"step {e[0] / 1e3:,.2f} nJ vs {e[1] / 1e3:,.2f} nJ ({100 * (e[0] / e[1] - 1):+.2f} "
            f"%; {exact} once the stated differences are taken out); latency per step "
            f"{lat['chipsim']:.2f} us vs {lat['SANA-FE detailed']:.2f} us (detailed timing, "
            f"{100 * (lat['chipsim'] / lat['SANA-FE detailed'] - 1):+.0f} %) / "
            f"{lat['SANA-FE simple']:.2f} us (simple) |")
    rows.append(
        "| VGG-11 at CIFAR size (random weights, shared kernels) mapped onto 32 Loihi chips "
        "(`loihi_nahuku32`), estimated inference at rate 0.1, T = 6 | `chipsim map vgg11.npz "
        "--set chip.preset=loihi_nahuku32 --rate 0.1` (`pytest tests/test_mapping.py -k "
        f"vgg11_maps` builds it) | {m['vgg11/cores_used']:,.0f} of 4,096 cores; "
        f"{m['vgg11/loihi2018_mJ']:.3g} mJ (loihi2018) / {m['vgg11/horowitz45_mJ']:.3g} mJ "
        f"(horowitz45) / {m['vgg11/sanafe_loihi_mJ']:.3g} mJ (sanafe_loihi) per inference; "
        f"{m['vgg11/latency_us']:.3g} us per step (Loihi's cycle table) |")
    return rows


def temporal_rows(temporal: dict) -> list[str]:
    """Delayed XOR, recurrent against feed-forward (bench/temporal.py)."""
    runs = {r["run"]: r for r in temporal["rows"]}

    def cell(label):
        r = runs[label]
        return (f"{100 * r['mean']:.1f} % (" + ", ".join(f"{100 * a:.1f}" for a in r["accuracy"])
                + ")")

    def cells(kind):
        return (f"{kind}: float64 OTTT_A {cell(kind + ', OTTT_A')}, OTTT_O "
                f"{cell(kind + ', OTTT_O')}, BPTT {cell(kind + ', BPTT')}; 8-bit chip OTTT_A "
                f"{cell(kind + ', OTTT_A, 8-bit chip')}, OTTT_O "
                f"{cell(kind + ', OTTT_O, 8-bit chip')}")

    seeds = runs["recurrent, OTTT_A"]["seeds"]
    return [
        "| delayed XOR (two cues 10 steps apart, chance 50 %), 64 hidden units, tau 8, "
        f"40 epochs (lr 0.5 OTTT_A, 0.05 OTTT_O, 0.02 BPTT), seeds {seeds[0]}-{seeds[-1]}: "
        "test accuracy, mean (per seed) | "
        "`python bench/temporal.py` (each run: `chipsim run examples/delayed_xor.yaml`) | "
        f"{cells('recurrent')}. {cells('feed-forward')} |"]


def temporal_table(temporal: dict) -> str:
    """The README's accuracy table of a temporal task (bench/temporal.py), a row per network,
    a column per rule and arithmetic."""
    runs = {r["run"]: r for r in temporal["rows"]}
    columns = [("float64 OTTT_A", ", OTTT_A"), ("float64 OTTT_O", ", OTTT_O"),
               ("float64 BPTT", ", BPTT"), ("8-bit chip OTTT_A", ", OTTT_A, 8-bit chip"),
               ("8-bit chip OTTT_O", ", OTTT_O, 8-bit chip")]
    seeds = runs["recurrent, OTTT_A"]["seeds"]
    task = {"delayed_xor": "delayed XOR", "spoken_digits": "spoken digits (SHD-like)"}[
        temporal.get("task", "delayed_xor")]
    lines = [f"| {task}, seeds {seeds[0]}-{seeds[-1]} (chance {100 * temporal['chance']:.0f} %) | "
             + " | ".join(name for name, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for kind in ("recurrent", "feed-forward"):
        cells = []
        for _, suffix in columns:
            r = runs[kind + suffix]
            cells.append(f"{100 * r['mean']:.1f} % ("
                         + ", ".join(f"{100 * a:.1f}" for a in r["accuracy"]) + ")")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(stored: dict) -> str:
    """Every row of the README's Measured table, from the stored results."""
    return "\n".join(["| what | command | result |", "|---|---|---|"]
                     + fidelity_rows(stored["measured"]) + quantization_rows(stored["quantization"])
                     + speed_rows(stored["speed"]) + startup_rows(stored["startup"])
                     + memory_rows(stored["memory"])
                     + cost_model_rows(stored["sanafe"], stored["measured"])
                     + temporal_rows(stored["temporal"])
                     + main_rows(stored["main"]))


def main_rows(numbers: dict) -> list[str]:
    """The rows of the main job (this script's runs)."""
    main, var_o = numbers["main"], numbers["variant_O"]
    e, c = main["energy_per_sample_pJ"], main["cycles_per_step"]
    mem = main["memory_ottt_vs_bptt"]
    mem_o = var_o["memory_ottt_vs_bptt"]
    uj = "{:.3f} uJ".format
    top = " and ".join(f"{ev.replace('_', ' ')} ({100 * share:.0f} %)"
                       for ev, share in main["training_top_events"])
    command = "`chipsim run examples/digits_ottt.yaml`"
    return [
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
    ]


def readme_with(text: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """README text with the rows between the markers ``begin`` and ``end`` replaced by
    ``block``."""
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[:start] + "\n" + block + "\n" + text[stop:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", action="store_true",
                        help="also run the measuring tests (bench/results/measured.json)")
    parser.add_argument("--write-readme", action="store_true",
                        help="rewrite the table between the markers in README.md")
    parser.add_argument("--render", action="store_true",
                        help="run nothing: render the stored results (after a benchmark)")
    args = parser.parse_args()
    if args.tests and not args.render:
        write_json(SOURCES["measured"], measure_in_tests())
    if not args.render:
        write_json(RESULTS, measure())
    rows = table(load_stored())
    print(rows)
    if args.write_readme:
        readme = ROOT / "README.md"
        text = readme_with(readme.read_text(), rows)
        stored = load_stored()
        text = readme_with(text, temporal_table(stored["temporal"]), TEMPORAL_BEGIN, TEMPORAL_END)
        text = readme_with(text, temporal_table(stored["spoken_digits"]), SPOKEN_BEGIN,
                           SPOKEN_END)
        write_text(readme, text)
        print(f"-> {readme}")


if __name__ == "__main__":
    main()
