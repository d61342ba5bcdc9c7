"""Plots of a run, drawn from the report dict alone (so they can be redrawn later)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from chipsim.report.writer import write_figure  # noqa: E402


def learning_curve(report: dict, path) -> None:
    """Train (online) and test accuracy in % per epoch, epoch 0 = before training."""
    epochs = report["epochs"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    x = [e["epoch"] for e in epochs]
    ax.plot(x, [100 * e["test_accuracy"] for e in epochs], "o-", label="test")
    trained = [e for e in epochs if e["train_accuracy"] is not None]
    ax.plot([e["epoch"] for e in trained], [100 * e["train_accuracy"] for e in trained], "s--",
            label="train (during learning)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{report['name']}: {report['run']['label']}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    write_figure(path, fig)
