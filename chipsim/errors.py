"""One exception hierarchy for the whole library; only the CLI turns these into exit statuses."""


class ChipsimError(Exception):
    """Base of every error chipsim raises on purpose. ``exit_status`` is what the CLI returns."""

    exit_status = 1


class ConfigError(ChipsimError):
    """A net.yaml (or --set override) that does not satisfy the schema."""

    exit_status = 2


class DataError(ChipsimError):
    """A missing, corrupt or inconsistent data or weights file."""

    exit_status = 2


class DoesNotFitError(ChipsimError):
    """A network that does not fit the chip's cores (neurons, axons, synapse memory)."""

    exit_status = 3


class TooLargeError(ChipsimError):
    """Work or a file that needs more memory than this machine can give the process."""

    exit_status = 3


class SimulationError(ChipsimError):
    """The run stopped on what its config asked for: an overflow under policy 'error', a
    training run that diverged. Exit 2, as for other input the user can change (exit 1 is
    kept for chipsim's own bugs)."""

    exit_status = 2
