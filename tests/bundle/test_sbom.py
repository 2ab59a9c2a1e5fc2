"""The SBOM each release ships: what it lists, that the release covers it, and how two differ."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bundle_testing import Repo

from horus_pipeline.bundle import sbom
from horus_pipeline.bundle.build import build_bundle, main
from horus_pipeline.bundle.release import read_manifest
from horus_pipeline.lock.lockfile import read_lock


def shipped(repo: Repo, release: str) -> dict[str, Any]:
    manifest = read_manifest(repo.out / repo.spec.name / "releases" / f"{release}.json")
    doc = sbom.of_release(manifest, repo.out / repo.spec.name)
    assert doc is not None
    return doc


def test_sbom_lists_every_locked_package_with_its_wheel_hash_and_license(repo: Repo) -> None:
    result = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    doc = shipped(repo, result.release)
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.6")
    components = {c["name"]: c for c in doc["components"]}
    pins = read_lock(repo.spec.lockfile).pins
    assert set(components) == set(pins) | {"horus-core"}
    for name, pin in pins.items():
        assert components[name]["version"] == pin.version
        assert components[name]["purl"] == f"pkg:pypi/{name}@{pin.version}"
        assert components[name]["hashes"][0]["content"] in {h.removeprefix("sha256:") for h in pin.hashes}
    assert components["fakenum"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert "licenses" not in components["fakeext"]  # its metadata declares none: none invented
    subject = doc["metadata"]["component"]
    assert (subject["name"], subject["type"]) == ("fake", "application")
    props = {p["name"]: p["value"] for p in subject["properties"]}
    assert props["horus:target:arch"] == "x86_64" and props["horus:image"] == repo.spec.name


def test_sbom_is_reproducible_and_covered_by_the_release_id(repo: Repo) -> None:
    first = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    text = json.dumps(shipped(repo, first.release), sort_keys=True)
    again = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert again.release == first.release and json.dumps(shipped(repo, again.release), sort_keys=True) == text
    assert '"timestamp": "2026-01-01T00:00:00+00:00"' in json.dumps(shipped(repo, first.release))  # no clock
    repo.lock(fakenum="1.1", fakeext="2.0")
    bumped = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    doc = shipped(repo, bumped.release)
    assert doc["serialNumber"] != shipped(repo, first.release)["serialNumber"]
    assert "sbom" in bumped.built  # a new SBOM layer, so a new release id


def test_bundle_diff_shows_what_the_sbom_changed(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    old = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    repo.lock(fakenum="1.1", fakeext="2.0")
    new = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    name = repo.spec.name
    assert main(["--out", str(repo.out), "--diff", f"{name}/{old.release}", f"{name}/{new.release}"]) == 0
    out = capsys.readouterr().out
    assert "SBOM packages changed (1):" in out
    assert "~ fakenum 1.0 -> 1.1 (license MIT -> MIT OR Apache-2.0)" in out


def test_horus_sbom_prints_the_document_and_a_table(repo: Repo, tmp_path: Path) -> None:
    result = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    path = tmp_path / sbom.FILENAME
    path.write_text(json.dumps(shipped(repo, result.release)))
    horus = [sys.executable, "-m", "horus.cli.main", "sbom", "--file", str(path)]
    doc = json.loads(subprocess.run(horus, capture_output=True, text=True, check=True).stdout)
    assert doc["metadata"]["component"]["name"] == "fake"
    table = subprocess.run([*horus, "--components"], capture_output=True, text=True, check=True).stdout
    assert ["fakenum", "1.0", "MIT"] in [line.split()[:3] for line in table.splitlines()]
    assert table.startswith("fake 0.1.0 (image fake-x86_64, x86_64, Python 3.11)")
    missing = subprocess.run([*horus[:-2], "--file", str(tmp_path / "none.json")], capture_output=True, text=True)
    assert missing.returncode != 0 and "no SBOM at" in missing.stderr
