"""Run pip-compile as if it ran on the robot: the target's marker environment, wheel tags and hashes.

Run in a subprocess, never imported by the pipeline:

    python -m horus_pipeline.lock_driver TARGET.json -- PIP-COMPILE-ARGS...

TARGET.json holds {"markers": {PEP 508 environment}, "tags": ["cp311-cp311-manylinux_2_36_aarch64", ...]}.

Three small patches, tested with exactly the pip and pip-tools of lockfiles/tools.txt (any other
version is refused, because they reach into pip's internals):

1. `pip._vendor.packaging.markers.default_environment` returns the target's environment, so
   `platform_machine == "x86_64"` is false for an aarch64 robot even on an x86_64 host.
2. `get_supported()` (and the names modules imported it under) returns the target's tags, so
   the finder picks the wheels the robot can install (pip's `--platform` alone does not change
   markers).
3. pip-tools hashes: take the `#sha256=` fragment the index gives with each link instead of
   downloading and hashing every file (pip-tools issue 1135: minutes instead of seconds), and
   hash only the files the target can install, so a lock does not depend on which other
   platforms' files some mirror happens to carry (and the index pages are not read twice).
   A link without a sha256 is downloaded and hashed as pip-tools always did.

Only the standard library, pip and pip-tools are imported: this runs in the tools environment.
"""

from __future__ import annotations

import contextlib
import json
import sys
from importlib import metadata
from typing import Any

# The versions these patches were written against and tested with; see lockfiles/tools.txt.
TESTED = {"pip": "25.3", "pip-tools": "7.6.2"}
EXIT_TOOLS = 3  # the pipeline turns this exit code into "install lockfiles/tools.txt"
EXIT_MIRROR = 4  # one file name, two contents on two indexes


def check_versions() -> None:
    found = {name: metadata.version(name) for name in TESTED}
    if found != TESTED:
        sys.stderr.write(
            "horus lock: the target patch for pip-compile was tested with "
            + ", ".join(f"{k}=={v}" for k, v in TESTED.items())
            + "; this environment has "
            + ", ".join(f"{k}=={v}" for k, v in found.items())
            + ". Install the pinned tools: pip install -r lockfiles/tools.txt\n"
        )
        raise SystemExit(EXIT_TOOLS)


def _require(module: Any, name: str) -> None:
    if not hasattr(module, name):
        sys.stderr.write(
            f"horus lock: {module.__name__}.{name} is gone: pip's internals moved. "
            "Install the pinned tools (pip install -r lockfiles/tools.txt) "
            "or update horus_pipeline/lock_driver.py\n"
        )
        raise SystemExit(EXIT_TOOLS)


def patch(markers_env: dict[str, str], tag_strings: list[str]) -> None:
    import pip._internal.models.target_python as target_python
    import pip._internal.resolution.resolvelib.factory as factory
    import pip._internal.utils.compatibility_tags as compatibility_tags
    import pip._vendor.packaging.markers as markers
    from pip._internal.models.wheel import Wheel
    from pip._vendor.packaging.tags import Tag
    from pip._vendor.packaging.version import Version
    from piptools.repositories.pypi import PyPIRepository

    for module, name in (
        (markers, "default_environment"),
        (compatibility_tags, "get_supported"),
        (target_python, "get_supported"),
        (factory, "get_supported"),
        (PyPIRepository, "_get_req_hashes"),
        (PyPIRepository, "find_all_candidates"),
        (PyPIRepository, "_get_file_hash"),
        (PyPIRepository, "allow_all_wheels"),
    ):
        _require(module, name)

    def default_environment() -> dict[str, str]:
        return dict(markers_env)

    tags = [Tag(*t.split("-")) for t in tag_strings]
    tag_set = frozenset(tags)

    def get_supported(*args: object, **kwargs: object) -> list[Tag]:
        return list(tags)

    markers.default_environment = default_environment  # type: ignore[assignment,unused-ignore]
    for module in (compatibility_tags, target_python, factory):
        module.get_supported = get_supported  # type: ignore[attr-defined]

    def _get_req_hashes(self: PyPIRepository, ireq: Any) -> set[str]:
        # The finder lists the target's wheels and every sdist, of every version: keep the
        # pinned version's wheels (its sdists only if it has no wheel for the target).
        # Exactly the pinned version: pip-tools' own matching lets "==2.10.0" pick the files of
        # "2.10.0+cpu" too (a specifier without a local label matches every local label).
        pinned = Version(next(iter(ireq.specifier)).version)
        links = [c.link for c in self.find_all_candidates(ireq.name) if c.version == pinned]
        wheels = [link for link in links if link.is_wheel and not tag_set.isdisjoint(Wheel(link.filename).file_tags)]
        chosen = wheels or [link for link in links if not link.is_wheel]
        by_file: dict[str, set[str]] = {}
        for link in chosen:
            from_index = link.hash_name == "sha256" and link.hash
            digest = f"sha256:{link.hash}" if from_index else self._get_file_hash(link)
            by_file.setdefault(link.filename, set()).add(digest)
        for filename, digests in by_file.items():
            if len(digests) > 1:
                # Two indexes serve different bytes under one name: a rebuilt or tampered file.
                sys.stderr.write(
                    f"horus lock: {filename} has different sha256 on different indexes "
                    f"({', '.join(sorted(digests))}): check this machine's mirrors (pip config list)\n"
                )
                raise SystemExit(EXIT_MIRROR)
        return set().union(*by_file.values())

    # pip-tools lists every platform's files for hashing by clearing the finder's caches and
    # re-reading every index page with all wheels allowed (seconds for torch's thousands of
    # links). We hash the target's files only, which resolution has already listed: keep them.
    def allow_all_wheels(self: PyPIRepository) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    PyPIRepository.allow_all_wheels = allow_all_wheels  # type: ignore[method-assign,assignment,unused-ignore]
    PyPIRepository._get_req_hashes = _get_req_hashes  # type: ignore[method-assign,unused-ignore]


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] != "--":
        sys.stderr.write("usage: python -m horus_pipeline.lock_driver TARGET.json -- PIP-COMPILE-ARGS...\n")
        raise SystemExit(2)
    check_versions()
    with open(argv[0], encoding="utf-8") as f:
        target = json.load(f)
    patch(target["markers"], target["tags"])
    from piptools.scripts.compile import cli

    cli.main(args=argv[2:], prog_name="pip-compile")


if __name__ == "__main__":
    main(sys.argv[1:])
