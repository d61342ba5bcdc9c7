"""chipsim: a cycle-level, fixed-point simulator of a neuromorphic chip that learns on chip.

The public API (``chipsim.Simulation``, ``chipsim.run``, ``chipsim.map_network``,
``chipsim.load_config``; see ``chipsim.api`` and docs/api.md) is imported on first use, so
that ``import chipsim`` and the command line start without loading numba.

The checkout keeps ``rules/`` and ``mapping/`` beside this folder; an install maps them to
``chipsim.rules`` and ``chipsim.mapping``. When this package is imported straight from a
checkout (run from the repository root, or with no install at all) those folders are not
inside the package folder, so the repository root is added to the package's search path.
"""
import os as _os

__version__ = "0.1.0"

_here = _os.path.dirname(_os.path.abspath(__file__))
_root = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "rules")) and _os.path.isfile(
    _os.path.join(_root, "rules", "__init__.py")
):
    __path__.append(_root)  # noqa: F821 - __path__ is defined for packages

_API = ("Config", "Evaluation", "Simulation", "load_config", "map_network", "run")
_ERRORS = ("ChipsimError", "ConfigError", "DataError", "DoesNotFitError", "SimulationError",
           "TooLargeError")
__all__ = [*_API, *_ERRORS, "__version__"]


def __getattr__(name):
    if name in _API:
        from chipsim import api

        return getattr(api, name)
    if name in _ERRORS:
        from chipsim import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'chipsim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
