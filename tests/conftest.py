"""Test-wide configuration. Helpers importable from any test live in horus_testing.py."""

from horus_testing import IN_CI, require

__all__ = ["IN_CI", "require"]
