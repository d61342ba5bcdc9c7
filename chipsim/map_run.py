"""``chipsim map``: place a trained network on the chip and estimate one inference at
stated spike rates (memory, energy, latency), without simulating it."""
from __future__ import annotations

from pathlib import Path

from chipsim import __version__
from chipsim.build import place_on_chip
from chipsim.config import Config
from chipsim.mapping.load import load_model
from chipsim.mapping.placement import synaptic_layers
from chipsim.output_dir import MAP_FILES, OutputDirectory
from chipsim.report.costs import memory
from chipsim.report.estimate import estimate_inference
from chipsim.report.summary import mapping_markdown
from chipsim.report.writer import write_json, write_text


def map_model(config: Config, out_dir: str | Path | None, *, rate: float, input_rate: float,
              echo=print, overwrite: bool = False) -> dict:
    """``python -m chipsim map``: place a trained network on the chip and estimate one
    inference at stated spike rates; writes mapping.json and mapping.md to ``out_dir``
    (claimed first, see chipsim.output_dir: an earlier mapping there is refused unless
    ``overwrite``). Returns the mapping."""
    if out_dir is None:
        return _map(config, None, rate, input_rate, echo)
    with OutputDirectory(out_dir, MAP_FILES, overwrite=overwrite) as out:
        return _map(config, out, rate, input_rate, echo)


def _map(config: Config, out: Path | None, rate: float, input_rate: float, echo) -> dict:
    chip, bits = config.chip, config.chip.bits
    nir = config.network.nir
    network = load_model(config.network.model, nir.convention, nir.dt)
    mapped = synaptic_layers(network.layers)
    placement = place_on_chip(config, network, None)  # inference: no learning memories
    timesteps = config.data.timesteps
    inference = estimate_inference(placement, mapped, input_rate=input_rate, rate=rate,
                                   timesteps=timesteps, chip_cfg=chip,
                                   spiking=[layer.spiking for layer in network.layers
                                            if layer.kind in ("dense", "conv2d")])
    mem = memory(placement, weight_bits=bits.weight, membrane_bits=bits.membrane,
                 error_bits=bits.error, accumulator_bits=bits.accumulator,
                 input_bits=bits.input, n_inputs=network.n_inputs, timesteps=timesteps,
                 layers=[(ml.n_in, ml.n_out) for ml in mapped])
    layers = []
    for l, ml in enumerate(mapped):
        cores = placement.cores_of(l)
        layers.append({"name": ml.name, "kind": ml.kind, "neurons": ml.n_out,
                       "presynaptic": ml.n_in, "cores": len(cores),
                       "input_groups": len({c.in_group for c in cores}),
                       "synapses": int(sum(c.synapses for c in cores)),
                       "sram_bits": int(sum(c.memory["sram_used"] for c in cores))})
    report = {"chipsim_version": __version__, "model": str(config.network.model),
              "config": config.model_dump(mode="json"),
              "nir_convention": nir.convention if str(config.network.model).endswith(".nir")
              else None,
              "placement": {"mesh": list(placement.mesh), "cores_used": len(placement.cores),
                            "cores_available": placement.mesh[0] * placement.mesh[1],
                            "conv_weights": chip.conv_weights, "layers": layers},
              "memory": mem, "inference": inference}
    echo(mapping_markdown(report, brief=True))
    if out is None:
        return report
    write_json(out / "mapping.json", report)
    write_text(out / "mapping.md", mapping_markdown(report))
    if config.output.plots:
        from chipsim.report import plots

        plots.memory_per_core({"memory": mem, "placement": report["placement"]},
                              out / "memory_per_core.png",
                              f"{config.network.model} on the {chip.preset} chip, "
                              f"{bits.weight}-bit weights (inference: no learning memory)")
    echo(f"-> {out}")
    return report
