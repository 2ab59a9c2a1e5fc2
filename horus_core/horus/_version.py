"""The runtime's version, in one place (horus.__version__, horus.get_version())."""

__version__ = "0.1.0"


def get_version() -> str:
    """A human-readable version line, as upstream HORUS's get_version() gives one."""
    return f"HORUS runtime (horus_core) v{__version__}"
