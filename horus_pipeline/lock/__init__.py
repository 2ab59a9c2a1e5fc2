"""Locking: each image's dependencies resolved for its robot's CPU into `lockfiles/<image>.txt`.

compile     the lock step (`nox -s lock`, `python -m horus_pipeline.lock`): inputs, freshness, checks
driver      the pip-compile subprocess that resolves with the target's markers and wheel tags
lockfile    reading a pip-tools lockfile (pins, hashes, `via` chains)
horus_lock  the app's `horus.lock`, derived from the image locks
"""
