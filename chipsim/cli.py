"""The command line: ``chipsim run NET.yaml [--out DIR] [--set KEY=VALUE ...]`` (installed as
the ``chipsim`` command; ``python -m chipsim`` is the same).

Library code raises ChipsimError subclasses; here they become one clear message on stderr
and an exit status: 0 success, 1 internal error, 2 bad input, 3 network does not fit the chip.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import os
import shlex
import signal
import sys
import traceback
from pathlib import Path

from chipsim import __version__
from chipsim.errors import ChipsimError, ConfigError


# module -> pip name of chipsim's dependencies (setup.cfg install_requires)
REQUIRED = {"numpy": "numpy", "numba": "numba", "llvmlite": "numba", "scipy": "scipy",
            "matplotlib": "matplotlib", "yaml": "pyyaml", "pydantic": "pydantic",
            "tqdm": "tqdm", "sklearn": "scikit-learn", "threadpoolctl": "threadpoolctl",
            "nir": "nir"}


# what to do about the file system's refusals, by errno
OS_ADVICE = {errno.ENOSPC: "the disk is full: free some space or write elsewhere (--out)",
             errno.EDQUOT: "the disk quota is used up: free some space or write elsewhere",
             errno.EROFS: "a read-only file system: write elsewhere (--out)",
             errno.EACCES: "permission denied: use a path you can read and write",
             errno.EPERM: "not permitted: use a path you can read and write",
             errno.ENOENT: "no such file or folder: check the path",
             errno.EISDIR: "a folder where a file is expected: check the path",
             errno.ENOTDIR: "a file where a folder is expected: check the path"}


def os_error_message(exc: OSError) -> str:
    """One line for an OSError: the path, what the system said and what to do."""
    where = " -> ".join(f"'{f}'" for f in (exc.filename, exc.filename2) if f is not None)
    advice = OS_ADVICE.get(exc.errno, "check the path and the file system")
    return (f"{where + ': ' if where else ''}{exc.strerror or exc} (errno "
            f"{errno.errorcode.get(exc.errno, exc.errno)}); {advice}")


def _prog() -> str:
    """How the user called chipsim: 'chipsim' (the installed command) or 'python -m chipsim'."""
    return "chipsim" if os.path.basename(sys.argv[0]) == "chipsim" else "python -m chipsim"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Cycle-level fixed-point simulator of a neuromorphic chip that learns "
                    "on chip with OTTT.")
    parser.add_argument("--version", action="version", version=f"chipsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train and evaluate the network a net.yaml describes")
    run.add_argument("config", nargs="?",
                     help="path to a net.yaml (not needed with --resume: the checkpoint holds "
                          "the config)")
    run.add_argument("--out", help="run directory (default: output.dir of the config)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key by its dotted path, value parsed as YAML "
                          "(e.g. --set chip.bits.weight=4); repeatable")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="show progress bars (default: only on a terminal)")
    run.add_argument("--resume", metavar="DIR", default=None,
                     help="continue the interrupted run whose directory is DIR (same config)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an earlier run in the run directory (removes its files "
                          "only; without it such a directory is refused)")
    mapping = sub.add_parser("map", help="place a trained network on the chip and estimate "
                                         "memory, energy and latency per inference")
    mapping.add_argument("model", help=".nir, .npz (+ .yaml architecture), .pt/.pth (+ .yaml) "
                                  "or a run directory")
    mapping.add_argument("--chip", metavar="CHIP.yaml",
                         help="a YAML file with a chip: section (as in net.yaml)")
    mapping.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="override a key (e.g. chip.preset=loihi, data.timesteps=6)")
    mapping.add_argument("--rate", type=float, default=0.1,
                         help="assumed spike rate of every spiking layer (spikes per neuron "
                              "per step; default 0.1)")
    mapping.add_argument("--input-rate", type=float, default=None,
                         help="assumed input event rate (default: --rate)")
    mapping.add_argument("--out", default=None, help="output folder (default: runs/map_<model>)")
    mapping.add_argument("--overwrite", action="store_true",
                         help="replace an earlier mapping in the output folder")
    sweep = sub.add_parser("sweep", help="run a grid of runs (a sweep file: base, set, axes)")
    sweep.add_argument("sweep", help="path to a SWEEP.yaml")
    sweep.add_argument("--out", help="sweep directory (default: runs/<sweep name>)")
    sweep.add_argument("--workers", type=int, default=None,
                       help="local worker processes (default: the number of cores)")
    sweep.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the points on this Dask distributed scheduler instead")
    sweep.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show progress (default: only on a terminal)")
    plot = sub.add_parser("plot", help="draw a figure from a sweep's results.csv")
    plot.add_argument("results", help="path to results.csv")
    plot.add_argument("--x", required=True, help="column for the x axis")
    plot.add_argument("--y", required=True, help="column for the y axis")
    plot.add_argument("--hue", default=None, help="column that splits the data into lines")
    plot.add_argument("--out", default=None, help="output file (.png or .svg)")
    sub.add_parser("config-doc", help="print the net.yaml reference (docs/config.md)")
    return parser


@contextlib.contextmanager
def _on_signals(graceful: bool):
    """Handle SIGINT and SIGTERM (also where the shell started chipsim with SIGINT ignored, a
    background job); yields [the first signal's number, 0 until then]. ``graceful`` (a run):
    the first signal asks the run to stop after the current batch (it checkpoints and exits
    130 / 143) and a second stops at once; otherwise (a sweep, whose finished points are kept)
    the first stops at once, by KeyboardInterrupt."""
    received = [0]

    def handler(signum, frame):
        if received[0] or not graceful:
            received[0] = received[0] or signum
            raise KeyboardInterrupt
        received[0] = signum
        print(f"chipsim: {signal.Signals(signum).name}: finishing the current batch, then "
              "writing a checkpoint (send again to stop at once)", file=sys.stderr)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _echo(*parts) -> None:
    """print, but a closed stdout (``chipsim run ... | head``) silences the rest of the run's
    output instead of stopping the run: its files are still written."""
    try:
        print(*parts, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse prints its own usage message; usage errors are bad input
        return 0 if exc.code == 0 else 2
    try:
        if args.command == "run":
            from chipsim import api

            if args.resume is not None and args.overwrite:
                raise ConfigError("run: --resume continues the run in DIR and --overwrite "
                                  "replaces it; give one of them")
            if args.config is None and args.resume is None:
                raise ConfigError("run: give a net.yaml, or --resume DIR to continue an "
                                  "interrupted run")
            if args.config is None:
                from chipsim.checkpoint import saved_config

                raw, name = saved_config(args.resume)
                config = api.load_config(raw, args.set)
            else:
                config, name = api.load_config(args.config, args.set), api.run_name(args.config)
            with _on_signals(graceful=True) as requested:
                api.run(config, args.resume or args.out, name=name, echo=_echo,
                        show_progress=args.progress, resume=args.resume is not None,
                        overwrite=args.overwrite, stop=lambda: requested[0])
        elif args.command == "map":
            from chipsim import api

            for name, value in (("--rate", args.rate), ("--input-rate", args.input_rate)):
                if value is not None and not 0.0 <= value <= 1.0:
                    raise ConfigError(f"{name}: expected a spike rate in [0, 1], got {value}")
            model = Path(args.model)  # a run's weights.npz is named after its directory
            stem = model.parent.name if model.name == "weights.npz" else model.stem
            api.map_network(args.model, args.chip, args.set, rate=args.rate,
                            input_rate=args.input_rate, out=args.out or f"runs/map_{stem}",
                            overwrite=args.overwrite, echo=_echo)
        elif args.command == "sweep":
            from chipsim.sweep import run_sweep

            try:
                with _on_signals(graceful=False) as received:
                    rows = run_sweep(args.sweep, out=args.out, workers=args.workers,
                                     scheduler=args.scheduler, show_progress=args.progress)
            except KeyboardInterrupt:
                name = signal.Signals(received[0] or signal.SIGINT).name
                print(f"chipsim: {name}: sweep stopped; its finished points are kept (run the "
                      "same command again to do the rest)", file=sys.stderr)
                return 128 + (received[0] or signal.SIGINT)
            failed = [r for r in rows if r["status"] == "error"]
            if failed:  # the sweep finished, but not every point: say so in the status
                first = failed[0]
                print(f"chipsim: error: {len(failed)} of {len(rows)} sweep points failed (their "
                      f"rows in results.csv have status 'error'); the first: {first['error']}",
                      file=sys.stderr)
                return 1
        elif args.command == "plot":
            from chipsim.report.sweep_plots import plot_results

            plot_results(args.results, x=args.x, y=args.y, hue=args.hue, out=args.out)
        elif args.command == "config-doc":
            from chipsim.config import reference_markdown

            sys.stdout.write(reference_markdown())
        return 0
    except ChipsimError as exc:
        print(f"chipsim: error: {exc}", file=sys.stderr)
        directory = getattr(exc, "directory", None)
        if directory is not None:  # interrupted: the command that continues it
            print("continue with: " + shlex.join([*_prog().split(), "run", "--resume",
                                                  str(directory)]), file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("chipsim: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("chipsim: error: this machine ran out of memory for the work asked (exit 3); "
              "make it smaller (fewer samples, units or time steps, no output.record) or run "
              "where there is more memory", file=sys.stderr)
        return 3
    except OSError as exc:  # the file system refused: a path, permissions, a full disk
        print(f"chipsim: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug in chipsim, not bad input: keep the traceback for the report
        missing = (getattr(exc, "name", None) or "").split(".")[0]
        if isinstance(exc, ModuleNotFoundError) and missing in REQUIRED:
            print(f"chipsim: error: the package '{missing}' is not installed in this Python "
                  f"({sys.executable}); chipsim needs it: pip install {REQUIRED[missing]} (or "
                  "install chipsim again: pip install -e .)", file=sys.stderr)
            return 2
        traceback.print_exc()
        print("chipsim: internal error (exit 1); please report it with the traceback above",
              file=sys.stderr)
        return 1
