"""The HORUS robot image pipeline: targets, image specs, locks, core wheels, bundles, simulated robots."""

from pathlib import Path

# The repository root: image specs, lockfiles and dist/ are found relative to it.
REPO = Path(__file__).resolve().parent.parent
