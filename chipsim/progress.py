"""Progress bars that show on a terminal and stay quiet in logs, pipes and CI."""
import sys

from tqdm.auto import tqdm

# no monitor thread (it only tunes a stalled bar's refresh): a run forks to draw its figures
# (report.plots.draw), which it does only while it has no other thread
tqdm.monitor_interval = 0


def progress(total: int, desc: str, enabled: bool | None = None):
    """A tqdm bar over ``total`` items; shown only when stderr is a terminal (or ``enabled``)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, desc=desc, disable=not show, leave=False, unit="sample",
                dynamic_ncols=True)
