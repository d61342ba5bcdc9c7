"""Figures of a sweep, drawn from its results.csv alone (so they can be redrawn later).

Standard figures (``standard_figures``, drawn by ``run_sweep`` for the axes present), each as
PNG and SVG:

- ``accuracy_vs_<axis>`` for the bit-width axes chip.bits.weight, .trace, .error: test
  accuracy, one line per value of the other axes (e.g. per rounding mode), mean over seeds
  with min-max error bars; float64 runs (chip.arithmetic: float64) as a horizontal line with
  their min-max band;
- ``energy_vs_accuracy``: energy per inference and per training sample (headline table)
  against accuracy, one marker per config (mean over seeds), the Pareto front (no other
  config is both cheaper and at least as accurate) joined and labelled;
- ``costs_vs_<axis>`` for every numeric axis but the seed: energy, latency per time step and
  synapse SRAM, one line per value of the other axes.

``plot_results`` draws any column against any other (``python -m chipsim plot``).
"""
from __future__ import annotations

import csv
import difflib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from chipsim.errors import ConfigError, DataError  # noqa: E402
from chipsim.report.energy_tables import width_statement  # noqa: E402
from chipsim.report.writer import write_figure  # noqa: E402
from chipsim.report.results_columns import ID_COLUMNS, METRIC_COLUMNS  # noqa: E402

BIT_AXES = ("chip.bits.weight", "chip.bits.trace", "chip.bits.error")
ENERGY_COLUMNS = ("energy_per_inference_pJ", "energy_per_train_sample_pJ")
# column -> (factor, axis label): how a column is shown
SHOWN = {
    "test_accuracy": (100.0, "test accuracy (%)"),
    "energy_per_inference_pJ": (1e-3, "energy per inference (nJ)"),
    "energy_per_train_sample_pJ": (1e-3, "energy per training sample (nJ)"),
    "sram_used_bits": (1 / 8192, "synapse SRAM used (KiB)"),
    "latency_cycles_per_step": (1.0, "latency per time step (cycles)"),
    "seconds": (1.0, "wall time of the run (s)"),
}
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|nan)$")


@dataclass(frozen=True)
class Results:
    """A results.csv: the columns of set values (axes and extra keys) and the parsed rows."""

    path: Path
    name: str
    columns: tuple[str, ...]
    values: tuple[str, ...]
    rows: tuple[dict, ...]

    @property
    def ok(self) -> list[dict]:
        return [r for r in self.rows if r.get("status") == "ok"]


def read_results(path: str | Path) -> Results:
    """Parse a sweep's results.csv (numbers as int or float, empty cells as None)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"results file '{path}' not found (a sweep writes OUT/results.csv)")
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            columns = tuple(reader.fieldnames or ())
            rows = tuple({k: _parse(v) for k, v in row.items()} for row in reader)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    missing = [c for c in ("test_accuracy", "status") if c not in columns]
    if missing:
        raise DataError(f"{path}: not a sweep results file (no column {', '.join(missing)}; "
                        f"columns: {', '.join(columns) or 'none'})")
    values = tuple(c for c in columns if c not in ID_COLUMNS and c not in METRIC_COLUMNS)
    return Results(path, _sweep_name(path), columns, values, rows)


def _sweep_name(path: Path) -> str:
    """The sweep's name from the results.json beside the CSV, else the folder's name."""
    try:
        return str(json.loads(path.with_name("results.json").read_text())["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return path.parent.name


def _parse(text):
    if text is None or text == "":
        return None
    if _NUMBER.match(text):
        return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
    return text


# ============================================================================= standard figures
def standard_figures(results_csv: str | Path, out_dir: str | Path) -> list[Path]:
    """Draw the standard figures that apply to the sweep's axes; returns the files written."""
    results = read_results(results_csv)
    out_dir = Path(out_dir)
    written = []
    if not results.ok:
        return written
    for axis in BIT_AXES:
        if axis in results.values and _points(results.ok, axis, "test_accuracy", fixed=True):
            written += accuracy_vs(results, axis, out_dir / f"accuracy_vs_{_file_key(axis)}")
    if any(r.get(c) is not None for r in results.ok for c in ENERGY_COLUMNS):
        written += energy_vs_accuracy(results, out_dir / "energy_vs_accuracy")
        for axis in results.values:
            if axis != "seed" and _numeric(results.ok, axis):
                written += costs_vs(results, axis, out_dir / f"costs_vs_{_file_key(axis)}")
    return written


def accuracy_vs(results: Results, x: str, stem: Path) -> list[Path]:
    """Test accuracy against one axis: a line per value of the other axes (seed aside; lines
    that coincide are drawn once), mean over seeds with min-max bars; float64 runs as a
    reference band with each run's value; chance level marked."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6), layout="constrained")
    others = [k for k in results.values if k not in (x, "seed", "chip.arithmetic")]
    fixed = [r for r in results.ok if not _is_float64(r)]
    categories = _categories(fixed, x)
    for label, rows in _merged(fixed, others, x, "test_accuracy"):
        _line(ax, rows, x, "test_accuracy", label, categories)
    reference = [r for r in results.ok if _is_float64(r)]
    if reference:
        values = [100 * r["test_accuracy"] for r in reference]
        mean = sum(values) / len(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        ax.axhline(mean, color="k", lw=1, ls="--",
                   label=f"float64 reference, same config ({len(values)} run"
                         f"{'s' if len(values) > 1 else ''}: {runs} %; line: mean"
                         + (", band: min-max" if len(values) > 1 else "") + ")")
        if len(values) > 1:
            ax.axhspan(min(values), max(values), color="k", alpha=0.08, lw=0)
    _chance(ax, results.ok)
    _x_axis(ax, fixed, x)
    ax.set_ylim(0, 100)
    ax.set_ylabel(SHOWN["test_accuracy"][1])
    ax.set_title(_title(results, fixed, "mean and min-max over seeds"), fontsize=8)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside lower center", fontsize=7, ncols=2)
    return _save(fig, stem)


def energy_vs_accuracy(results: Results, stem: Path) -> list[Path]:
    """Energy per sample against accuracy per config (mean over seeds), both axes from zero,
    the Pareto front marked among the configs above chance."""
    others = [k for k in results.values if k not in ("seed", "chip.arithmetic")]
    hue = others[-1] if others else None
    parts = [c for c in ENERGY_COLUMNS if any(r.get(c) is not None for r in results.ok)]
    priced = [r for r in results.ok if r.get(parts[0]) is not None]
    chance = _chance_level(priced)
    fig, axes = plt.subplots(1, len(parts), figsize=(6 * len(parts), 5.2), squeeze=False,
                             layout="constrained")
    configs = []
    for key, rows in _groups(priced, others).items():
        configs.append((dict(zip(others, key)), rows))
    colors = _colors([c[0].get(hue) for c in configs])
    for ax, column in zip(axes[0], parts):
        factor, label = SHOWN[column]
        pts = []
        for values, rows in configs:
            energies = [r[column] for r in rows if r.get(column) is not None]
            if energies:
                pts.append((factor * _mean(energies),
                            100 * _mean([r["test_accuracy"] for r in rows]), values))
        for value, color in colors.items():
            mine = [p for p in pts if p[2].get(hue) == value]
            ax.scatter([p[0] for p in mine], [p[1] for p in mine], color=color, s=22,
                       label=_value(hue, value) if hue else None, zorder=3)
        front = pareto_front([(p[0], p[1]) for p in pts], None if chance is None
                             else 150 * chance)
        fx, fy = [pts[i][0] for i in front], [pts[i][1] for i in front]
        ax.plot(fx, fy, "k--", lw=1, drawstyle="steps-post", zorder=2)
        ax.scatter(fx, fy, s=90, facecolors="none", edgecolors="k", lw=1.2, zorder=4,
                   label="Pareto front" + (" (configs above 1.5 x chance)" if chance else ""))
        listing = []  # the front, numbered on the plot and spelled out below it
        for n, i in enumerate(front, 1):
            ax.annotate(str(n), (pts[i][0], pts[i][1]), fontsize=7, xytext=(5, 3),
                        textcoords="offset points")
            listing.append(f"{n}: {_label(others, [pts[i][2][k] for k in others]) or 'run'}  "
                           f"{pts[i][0]:.4g} nJ, {pts[i][1]:.2f} %")
        ax.text(0.0, -0.14, "Pareto front:\n" + "\n".join(listing), transform=ax.transAxes,
                va="top", fontsize=7, family="monospace")
        if len(pts) > 1 and max(p[0] for p in pts) > 20 * min(p[0] for p in pts) > 0:
            ax.set_xscale("log")  # over decades: a log scale, said on the axis
            ax.set_xlabel(f"{label}, {_table(results)} (log scale)")
        else:
            ax.set_xlim(left=0, right=1.05 * max(p[0] for p in pts))
            ax.set_xlabel(f"{label}, {_table(results)}")
        _chance(ax, priced)
        ax.set_ylim(0, 100)
        ax.set_ylabel(SHOWN["test_accuracy"][1])
        ax.grid(alpha=0.3)
    if axes[0][0].get_legend_handles_labels()[0]:
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=7, loc="outside right upper")
    fig.suptitle(_title(results, priced, "one marker per config, mean over seeds")
                 + _width_note(results), fontsize=9)
    return _save(fig, stem)


def pareto_front(points: list[tuple[float, float]], floor: float | None = None) -> list[int]:
    """Indices of the points no other point beats: lower cost (x) and higher accuracy (y),
    ordered by cost. Of equal points the first is kept. Points with y <= ``floor`` (e.g. 1.5
    x chance) are left out: cheap and useless is not a trade-off."""
    order = sorted((i for i in range(len(points)) if floor is None or points[i][1] > floor),
                   key=lambda i: (points[i][0], -points[i][1], i))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def costs_vs(results: Results, x: str, stem: Path) -> list[Path]:
    """Energy, latency and synapse SRAM against one numeric axis, from zero, a line per
    value of the other axes (seed aside, mean over seeds; coinciding lines drawn once)."""
    columns = [c for c in (*ENERGY_COLUMNS, "latency_cycles_per_step", "sram_used_bits")
               if any(r.get(c) is not None for r in results.ok)]
    fixed = [r for r in results.ok if r.get(columns[0]) is not None and r.get(x) is not None]
    others = [k for k in results.values if k not in (x, "seed", "chip.arithmetic")]
    cols = 2 if len(columns) > 2 else len(columns)
    rows_n = math.ceil(len(columns) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(5.2 * cols, 3.4 * rows_n + 0.6),
                             squeeze=False, layout="constrained")
    categories = _categories(fixed, x)
    lines = [_merged(fixed, others, x, column) for column in columns]
    # a colour per legend entry across the panels: a panel whose lines coincide draws them
    # as one line of its own label, which must not take another entry's colour
    colors = _colors([label for panel in lines for label, _ in panel])
    for ax, column, panel in zip(axes.flat, columns, lines):
        for label, rows in panel:
            _line(ax, rows, x, column, label, categories, colors[label])
        _x_axis(ax, fixed, x)
        ax.set_ylim(0, 1.08 * ax.dataLim.y1)  # from zero, with room above the highest line
        ax.set_ylabel(SHOWN[column][1], fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    shown = {}  # one legend below the panels (over none of their data)
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            shown.setdefault(label, handle)
    if shown:
        fig.legend(list(shown.values()), list(shown), fontsize=7, loc="outside lower center",
                   ncols=min(3, len(shown)))
    fig.suptitle(_title(results, fixed, f"costs under {_table(results)}, mean over seeds")
                 + _width_note(results), fontsize=9)
    return _save(fig, stem)


# ============================================================================= custom figures
def plot_results(results_csv: str | Path, x: str, y: str, hue: str | None = None,
                 out: str | Path | None = None, echo=print) -> list[Path]:
    """Column y against column x of a results.csv, a line per value of hue; rows that share
    x and hue (e.g. seeds) are averaged with min-max bars. Writes ``out`` (.png or .svg), by
    default <y>_vs_<x>[_by_<hue>].png and .svg beside the results file."""
    results = read_results(results_csv)
    problems = [_unknown(name, c, results.columns) for name, c in (("--x", x), ("--y", y),
                                                                     ("--hue", hue))
                if c is not None and c not in results.columns]
    if not problems and not any(isinstance(r.get(y), (int, float)) for r in results.ok):
        problems.append(f"--y {y}: no numeric values in the rows with status ok")
    if out is not None and Path(out).suffix not in (".png", ".svg"):
        problems.append(f"--out {out}: expected a .png or .svg file name")
    if problems:
        raise ConfigError(f"chipsim plot {results.path}: " + "; ".join(problems))
    rows = [r for r in results.ok if r.get(x) is not None and isinstance(r.get(y), (int, float))]
    fig, ax = plt.subplots(figsize=(6, 4))
    categories = _categories(rows, x)
    for key, members in _groups(rows, [hue] if hue else []).items():
        _line(ax, members, x, y, str(key[0]) if hue else None, categories)
    _x_axis(ax, rows, x)
    ax.set_ylabel(_axis_name(y))
    ax.set_title(_title(results, rows, "mean and min-max over rows sharing x"
                        + (" and hue" if hue else "")), fontsize=9)
    ax.grid(alpha=0.3)
    if hue:
        ax.legend(fontsize=8, title=_axis_name(hue))
    if out is not None:
        write_figure(out, fig)
        written = [Path(out)]
    else:
        name = f"{_file_key(y)}_vs_{_file_key(x)}" + (f"_by_{_file_key(hue)}" if hue else "")
        written = _save(fig, results.path.parent / name)
    echo("wrote " + ", ".join(str(p) for p in written))
    return written


def _unknown(option: str, column: str, columns) -> str:
    close = difflib.get_close_matches(column, columns, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{option}: no column {column!r}{hint}; columns: {', '.join(columns)}"


# ============================================================================= helpers
def _save(fig, stem: Path) -> list[Path]:
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    write_figure(paths[1], fig)  # write_figure closes the figure; saving stays possible
    write_figure(paths[0], fig)
    return paths


def _line(ax, rows: list[dict], x: str, y: str, label, categories: list | None,
          color=None) -> None:
    """Mean of y per x value, with min-max bars where several rows share an x; a text x is
    placed at its index in ``categories``; ``color``: the axes' next colour when None."""
    factor = SHOWN.get(y, (1.0, y))[0]
    by_x: dict = {}
    for r in rows:
        if r.get(x) is not None and isinstance(r.get(y), (int, float)):
            by_x.setdefault(r[x], []).append(factor * r[y])
    if not by_x:
        return
    xs = _sorted(list(by_x))
    positions = [categories.index(v) for v in xs] if categories else xs
    means = [_mean(by_x[v]) for v in xs]
    spread = [[m - min(by_x[v]) for m, v in zip(means, xs)],
              [max(by_x[v]) - m for m, v in zip(means, xs)]]
    ax.errorbar(positions, means, yerr=spread if any(len(by_x[v]) > 1 for v in xs) else None,
                marker="o", ms=4, capsize=3, lw=1.2, label=label, color=color)


def _categories(rows: list[dict], x: str) -> list | None:
    """The x values in order when they are not all numbers (then placed at 0, 1, ...)."""
    values = _sorted({r[x] for r in rows if r.get(x) is not None})
    return None if _all_numbers(values) else values


def _x_axis(ax, rows: list[dict], x: str) -> None:
    values = _sorted({r[x] for r in rows if r.get(x) is not None})
    categories = _categories(rows, x)
    if categories:
        ax.set_xticks(range(len(categories)), [str(c) for c in categories])
    elif values:
        if min(values) > 0 and max(values) >= 4 * min(values):
            ax.set_xscale("log", base=2)  # bit widths and core sizes: even steps per doubling
        if len(values) <= 12:
            ax.set_xticks(values, [f"{v:g}" for v in values])
            ax.minorticks_off()
    ax.set_xlabel(_axis_name(x))


def _merged(rows: list[dict], keys: list[str], x: str, y: str) -> list[tuple]:
    """(label, rows) per line: the groups of ``keys`` values, those whose y agrees at every
    x (to 9 significant digits) joined into one line labelled with all their values."""
    lines: dict[tuple, list] = {}
    for key, members in _groups(rows, keys).items():
        by_x: dict = {}
        for r in members:
            if r.get(x) is not None and isinstance(r.get(y), (int, float)):
                by_x.setdefault(r[x], []).append(r[y])
        shape = tuple(sorted((str(v), f"{min(ys):.9g}", f"{max(ys):.9g}", f"{_mean(ys):.9g}")
                             for v, ys in by_x.items()))
        lines.setdefault(shape, []).append((key, members))
    out = []
    for groups in lines.values():
        label_keys = [k for i, k in enumerate(keys)
                      if len({g[0][i] for g in groups}) > 1 or len(groups) == 1]
        if len(groups) == 1:
            label = _label(keys, groups[0][0])
        else:
            parts = [_value(k, ", ".join(str(v) for v in _sorted({g[0][keys.index(k)]
                                                                    for g in groups})))
                     for k in label_keys]
            same = [_value(k, groups[0][0][i]) for i, k in enumerate(keys)
                    if k not in label_keys and groups[0][0][i] is not None]
            label = ", ".join(same + parts) + " (identical)"
        out.append((label, [r for _, members in groups for r in members]))
    return out


def _chance_level(rows: list[dict]) -> float | None:
    levels = {r.get("chance_accuracy") for r in rows} - {None}
    return max(levels) if levels else None


def _chance(ax, rows: list[dict]) -> None:
    """A dotted line at chance level (1 / classes) when results.csv has it."""
    chance = _chance_level(rows)
    if chance is not None:
        ax.axhline(100 * chance, color="gray", lw=1, ls=":", label="chance (1 / classes)")


def _width_note(results: Results) -> str:
    """On energy figures of a sweep over widths: whether each table used depends on them."""
    widths = any(k.startswith("chip.bits.") for k in results.values)
    tables = sorted({r.get("energy_table") for r in results.ok} - {None})
    return "".join(f"\n({width_statement(t)})" for t in tables) if widths else ""


def _groups(rows: list[dict], keys: list[str]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    return out


def _colors(values: list) -> dict:
    distinct = list(dict.fromkeys(values))
    cmap = plt.get_cmap("tab10")
    return {v: cmap(i % 10) for i, v in enumerate(distinct)}


def _points(rows, x, y, fixed=False) -> bool:
    return any(r.get(x) is not None and r.get(y) is not None and not (fixed and _is_float64(r))
               for r in rows)


def _is_float64(row: dict) -> bool:
    return row.get("chip.arithmetic") == "float64"


def _numeric(rows: list[dict], column: str) -> bool:
    values = [r[column] for r in rows if r.get(column) is not None]
    return bool(values) and len(set(values)) > 1 and _all_numbers(values)


def _all_numbers(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _sorted(values):
    values = list(values)
    return sorted(values) if _all_numbers(values) else sorted(values, key=str)


def _mean(values) -> float:
    return sum(values) / len(values)


# config keys as a reader says them: axis labels (with units) and legend entries
KEY_LABELS = {
    "chip.bits.weight": ("weight width (bits)", "{}-bit weights"),
    "chip.bits.trace": ("trace width (bits)", "{}-bit traces"),
    "chip.bits.error": ("error width (bits)", "{}-bit errors"),
    "chip.bits.membrane": ("membrane width (bits)", "{}-bit membranes"),
    "chip.bits.accumulator": ("accumulator width (bits)", "{}-bit accumulators"),
    "chip.core.neurons": ("neurons per core", "{} neurons per core"),
    "chip.core.axons": ("axons per core", "{} axons per core"),
    "chip.core.synapse_memory_kib": ("synapse memory per core (KiB)", "{} KiB per core"),
    "chip.rounding": ("rounding of weight updates", "{} rounding"),
    "chip.arithmetic": ("arithmetic", "{}"),
    "learning.variant": ("OTTT variant", "OTTT_{}"),
    "learning.optimizer.lr": ("learning rate", "lr {}"),
    "learning.batch_size": ("batch size", "batch {}"),
    "learning.epochs": ("epochs", "{} epochs"),
    "data.timesteps": ("time steps T", "T = {}"),
    "seed": ("seed", "seed {}"),
}


def _axis_name(key: str) -> str:
    return KEY_LABELS[key][0] if key in KEY_LABELS else SHOWN.get(key, (1.0, key))[1]


def _value(key: str | None, value) -> str:
    if key in KEY_LABELS:
        return KEY_LABELS[key][1].format(value)
    return f"{_short(key)}={value}"


def _short(key: str | None) -> str:
    """A config key without its section: chip.bits.weight -> bits.weight."""
    if key is None:
        return ""
    head, _, rest = key.partition(".")
    return rest if rest and head in ("chip", "learning", "network", "data", "output") else key


def _file_key(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", _short(key)).strip("_")


def _label(keys: list[str], values) -> str | None:
    parts = [_value(k, v) for k, v in zip(keys, values) if v is not None]
    return ", ".join(parts) if parts else None


def _table(results: Results) -> str:
    tables = {r.get("energy_table") for r in results.ok} - {None}
    return ", ".join(sorted(tables)) + " table" if tables else "no energy table"


def _title(results: Results, rows: list[dict], what: str) -> str:
    return f"sweep {results.name}: {len(rows)} run{'s' if len(rows) != 1 else ''}; {what}"
