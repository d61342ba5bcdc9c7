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
    return "\n".join(lines) + "\n"
