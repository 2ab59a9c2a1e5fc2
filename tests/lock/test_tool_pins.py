"""The pipeline's own tools are pinned like a robot's packages: every file hash-checked, one version each."""

from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from horus_pipeline import REPO

PINS = ("tools", "test", "nox")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def pinned(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """{package: (version, its sha256 hashes)} of lockfiles/<name>.txt."""
    text = (REPO / "lockfiles" / f"{name}.txt").read_text()
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for entry in re.split(r"\n(?=\S)", text):
        match = _PIN.match(entry)
        if match:
            hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", entry))
            pins[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return pins


def requested(name: str) -> list[Requirement]:
    lines = (REPO / "lockfiles" / f"{name}.in").read_text().splitlines()
    return [Requirement(line) for line in lines if line and not line.startswith(("#", "-"))]


@pytest.mark.parametrize("name", PINS)
def test_every_pin_is_exact_and_hash_checked(name: str) -> None:
    pins = pinned(name)
    assert pins, f"lockfiles/{name}.txt pins nothing"
    entries = [e for e in re.split(r"\n(?=\S)", (REPO / "lockfiles" / f"{name}.txt").read_text()) if e[:1].isalnum()]
    assert len(entries) == len(pins), [e.splitlines()[0] for e in entries if not _PIN.match(e)]
    assert not [p for p, (_, hashes) in pins.items() if not hashes]


@pytest.mark.parametrize("name", PINS)
def test_pins_hold_what_their_input_asks_for(name: str) -> None:
    pins = pinned(name)
    for req in requested(name):
        key = canonicalize_name(req.name)
        assert key in pins, f"lockfiles/{name}.in asks for {req}; re-pin with `nox -s tool_pins`"
        assert req.specifier.contains(pins[key][0], prereleases=True), (req, pins[key][0])


@pytest.mark.parametrize("name", PINS)
def test_pins_name_no_machine_index_or_path(name: str) -> None:
    text = (REPO / "lockfiles" / f"{name}.txt").read_text()
    for line in (line for line in text.splitlines() if not line.startswith("#")):
        assert not re.search(r"file:|--(extra-)?index-url|--find-links|--trusted-host|(^|\s)/\w", line), line


def test_a_package_pinned_twice_has_one_version_and_one_set_of_files() -> None:
    seen: dict[str, tuple[str, str, frozenset[str]]] = {}
    for name in PINS:
        for package, (version, hashes) in pinned(name).items():
            if package in seen:
                where, other_version, other_hashes = seen[package]
                assert (version, hashes) == (other_version, other_hashes), f"{package}: {where}.txt vs {name}.txt"
            seen[package] = (name, version, hashes)
