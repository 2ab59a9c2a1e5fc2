"""Bundles: offline, reproducible releases for robots, in content-addressed layers.

build       the bundle step (`nox -s bundle`, `python -m horus_pipeline.bundle`): layers, release, latest
wheels      the locked wheels of an image's target, fetched once into the cache
layers      one layer per wheel (installed for the target) or source tree, deterministic archives
release     the release manifest, the contract with the robot
deploydata  the manifest's `deploy` section: how a release runs on the robot (services, user, journald, health)
"""
