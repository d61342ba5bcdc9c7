"""A tour of chipsim's Python API: train the digits network on the simulated chip, read its
event counters and costs, save the run, and map the trained network onto a larger chip.

    python examples/api_tour.py [OUT]        (OUT defaults to runs/api_tour; about 10 s)

Only the public API is used (``import chipsim``); docs/api.md describes it.
"""
import sys
from pathlib import Path

import chipsim

CONFIG = Path(__file__).parent / "digits_ottt.yaml"


def main(out: str = "runs/api_tour", epochs: int = 3) -> dict:
    # 1. A simulation from the example config, with overrides as on the command line
    sim = chipsim.Simulation(CONFIG,
                             overrides=[f"learning.epochs={epochs}", "output.plots=false"])
    print(sim)
    notice = sim.compile_notice()
    if notice:
        print(notice)

    # 2. Train (epoch 0 is the untrained network) and evaluate
    for record in sim.train():
        print(f"epoch {record['epoch']}: train {100 * record['train_accuracy']:.1f} %, "
              f"test {100 * record['test_accuracy']:.1f} %")
    accuracy = sim.evaluate().accuracy
    print(f"test accuracy on chip: {100 * accuracy:.2f} %")

    # 3. What the chip did: event counts per layer, then costs
    inference = sim.counters["inference"]
    n_test = len(sim.data.y_test)
    for layer, counts in inference.items():
        print(f"{layer}: {counts['synaptic_ops'] / n_test:,.0f} synaptic ops and "
              f"{counts['synapse_rows_read'] / n_test:,.1f} synapse rows read per test sample")
    costs = sim.costs()
    print("spikes per neuron per step:", costs["inference"]["spike_rates"])
    table = costs["primary_energy_table"]
    per_inference = costs["inference"]["energy"][table]["per_sample_pJ"]
    per_training = costs["training"]["energy"][table]["per_sample_pJ"]
    latency = costs["inference"]["cycles"]["per_step"]["latency_cycles"]
    print(f"energy ({table}): {per_inference / 1e6:.3f} uJ per inference, "
          f"{per_training / 1e6:.3f} uJ per training sample; "
          f"{latency:,.0f} cycles per time step; {costs['placement']['cores_used']} cores")

    # 4. Save the run directory; it loads again as a model
    report = sim.save(out)
    print(f"saved -> {out} (test accuracy {100 * report['final']['test_accuracy']:.2f} %)")

    # 5. Map the trained network onto a Loihi-sized mesh at an assumed activity
    mapping = chipsim.map_network(out, overrides=["chip.preset=loihi"], rate=0.1)
    estimate = mapping["inference"]
    energy = estimate["energy"][estimate["primary_energy_table"]]["per_sample_pJ"]
    print(f"on the loihi preset: {mapping['placement']['cores_used']} of "
          f"{mapping['placement']['cores_available']} cores, {energy / 1e6:.3f} uJ and "
          f"{estimate['cycles']['per_step']['latency_cycles']:,.0f} cycles per time step "
          f"per inference at 0.1 spikes per neuron per step")
    return {"accuracy": accuracy, "costs": costs, "report": report, "mapping": mapping}


if __name__ == "__main__":
    main(*sys.argv[1:2])
