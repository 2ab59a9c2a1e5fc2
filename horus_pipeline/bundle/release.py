"""Release manifests: `dist/bundles/<image>/releases/<release-id>.json`, the contract with the robot.

A manifest names the image, target, Python, lock, every layer, the console scripts to
generate, and, through a chain of hashes, the sha256 of every file of the assembled release:
each layer entry holds the sha256 of that layer's index (`.horus-layer.json` at the layer's
root, canonical JSON `{"files": {"<path in layer>": "<sha256>", ...}}`), and the index holds
the sha256 of each file. (Listing 20k file hashes in the manifest itself made it 3.6 MB,
which a robot would receive for every app-only change; this way it is a few KB.)

Its id is the first 16 hex digits of the sha256 of its canonical JSON
without the `id` field and the layers' `delta` entries (robot/assemble.py: `release_id`), so the
same inputs give the same id on any machine, whatever release came before, and a modified manifest
no longer matches its id (the signature covers the deltas too). Format (FORMAT = 2):

    {
      "format": 2, "id": "3f0c...", "image": "demo-arm64", "serial": 1764000000,
      "app": {"name": "demo", "version": "0.1.0"}, "prefix": "/opt/demo",
      "target": {"arch": "aarch64", "python": "3.11", "glibc": "2.36"},
      "python": {"executable": "/usr/bin/python3.11", "home": "/usr/bin", "pyc": "checked-hash"},
      "lock": {"sha256": "...", "inputs": "sha256:..."},
      "layers": [{"hash": "...", "kind": "package", "name": "numpy", "version": "2.4.6",
                  "into": "venv", "archive": "layers/<hash>.tar.gz", "archive_sha256": "...",
                  "archive_size": 1234, "size": 5678, "files": 1017, "index_sha256": "...",
                  "source_sha256": "<wheel sha256>", "modules": ["numpy"],
                  "delta": {"from": "<hash of the previous release's numpy layer>", "sha256": "...",
                            "size": 345}}, ...],       (delta: when smaller, bundle/delta.py)
      "console_scripts": [{"name": "f2py", "module": "numpy.f2py.f2py2e", "attr": "main",
                           "section": "console"}, ...],
      "assembler": "assemble.py",
      "deploy": {"app": "demo", "user": "horus", "services": [...], ...}   (deploydata.py)
    }

Layer kinds and where they go: `package` and `core` are hard-linked into `venv/`, `app` is
linked as `app -> ../../layers/<hash>`, `native` (the compiled services, native/<service>,
native.py), `tool` (this release's assemble.py) and `sbom` (its sbom.cdx.json, sbom.py) into the
release directory itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

from ..determinism import sha256_file
from ..errors import PipelineError
from ..images import ImageSpec
from ..lock.lockfile import Lock
from ..robot import contract
from ..robot.assemble import FORMAT, release_id
from .deploydata import DeployData, deploy_vars
from .layers import Layer, LayerKind

# "tool": the release directory itself (native/<service>, assemble.py, sbom.cdx.json).
INTO: dict[str, str] = {
    "package": "venv",
    "core": "venv",
    "app": "app",
    "native": "tool",
    "tool": "tool",
    "sbom": "tool",
}
_ORDER = {"package": 0, "core": 1, "app": 2, "native": 3, "tool": 4, "sbom": 5}


# How a robot with layer `from` may receive a layer instead of its archive (bundle/delta.py): the file
# deltas/<from>-<hash>.delta, of this sha256 and size. Not part of the release id. (Functional form:
# `from` is a keyword.)
ManifestDelta = TypedDict("ManifestDelta", {"from": str, "sha256": str, "size": int})


class _LayerEntry(TypedDict):
    hash: str
    kind: LayerKind
    name: str
    version: str
    into: str  # INTO[kind]
    archive: str  # layers/<hash>.tar.gz, relative to the image's bundle directory
    archive_sha256: str
    archive_size: int
    size: int  # bytes unpacked
    files: int
    index_sha256: str  # of the layer's .horus-layer.json
    source_sha256: str  # of the wheel or tree it was built from
    modules: list[str]  # top-level importable names


class ManifestLayer(_LayerEntry, total=False):
    """A layer of the release (NotRequired would not survive this module's string annotations on 3.11)."""

    delta: ManifestDelta


class ManifestScript(TypedDict):
    name: str
    module: str
    attr: str
    section: str  # "console" or "gui"


class ManifestApp(TypedDict):
    name: str
    version: str


class ManifestTarget(TypedDict):
    arch: str
    python: str
    glibc: str  # "2.36"


class ManifestPython(TypedDict):
    executable: str
    home: str
    pyc: Literal["checked-hash", "none"]


class ManifestLock(TypedDict):
    sha256: str
    inputs: str | None


class ReleaseManifest(TypedDict):
    """`releases/<id>.json`: what the writer (compose) promises and every reader may rely on."""

    format: int
    id: str
    image: str
    serial: int  # signing.release_serial: robots refuse a lower one than the newest they ran
    app: ManifestApp
    prefix: str
    target: ManifestTarget
    python: ManifestPython
    lock: ManifestLock
    layers: list[ManifestLayer]
    console_scripts: list[ManifestScript]
    assembler: str
    deploy: DeployData  # how it runs on the robot (deploydata.py)


class ConflictError(PipelineError):
    """Two layers of one release would install the same file."""


def _release_path(layer: Layer, rel: str) -> str:
    into = INTO[layer.kind]
    return rel if into == "tool" else f"{into}/{rel}"


def compose(spec: ImageSpec, lock: Lock, layers: Sequence[Layer], app: tuple[str, str], serial: int) -> ReleaseManifest:
    """The release manifest of these layers; refuses two layers that install the same file."""
    target = spec.target
    ordered = sorted(layers, key=lambda la: (_ORDER[la.kind], la.name, la.hash))
    owner: dict[str, Layer] = {}
    for layer in ordered:
        for rel in layer.files:
            path = _release_path(layer, rel)
            if path in owner:
                raise ConflictError(_conflict(spec, path, owner[path], layer))
            owner[path] = layer
    scripts: list[ManifestScript] = []
    for layer in ordered:
        for script in layer.console_scripts:
            path = f"venv/bin/{script.name}"
            if path in owner:
                raise ConflictError(_conflict(spec, path, owner[path], layer))
            owner[path] = layer
            scripts.append(
                {"name": script.name, "module": script.module, "attr": script.attr, "section": script.section}
            )
    manifest: ReleaseManifest = {
        "format": FORMAT,
        "id": "",  # release_id() leaves it out; set below
        "image": spec.name,
        "serial": serial,
        "app": {"name": app[0], "version": app[1]},
        "prefix": spec.prefix,
        "target": {
            "arch": target.arch.name,
            "python": target.python,
            "glibc": f"{target.glibc[0]}.{target.glibc[1]}",
        },
        "python": {
            "executable": f"/usr/bin/python{target.python}",
            "home": "/usr/bin",
            "pyc": "checked-hash"
            if all(la.pyc != "none" for la in ordered if la.kind not in ("tool", "sbom"))
            else "none",
        },
        "lock": {"sha256": sha256_file(lock.path), "inputs": lock.inputs_hash},
        "layers": [
            {
                "hash": la.hash,
                "kind": la.kind,
                "name": la.name,
                "version": la.version,
                "into": INTO[la.kind],
                "archive": f"layers/{la.hash}.tar.gz",
                "archive_sha256": la.archive_sha256,
                "archive_size": la.archive_size,
                "size": la.size,
                "files": len(la.files),
                "index_sha256": la.index_sha256,
                "source_sha256": la.source_sha256,
                "modules": la.modules,
            }
            for la in ordered
        ],
        "console_scripts": sorted(scripts, key=lambda s: s["name"]),
        "assembler": "assemble.py",
        "deploy": deploy_vars(spec),
    }
    manifest["id"] = release_id(manifest)
    try:  # what a robot refuses is refused here first, naming the image spec
        contract.check_deploy(manifest["deploy"], manifest["prefix"], f"images/{spec.name}.toml")
    except contract.ContractError as exc:
        raise PipelineError(str(exc)) from None
    return manifest


def _conflict(spec: ImageSpec, path: str, first: Layer, second: Layer) -> str:
    return (
        f"image {spec.name}: {first.name} {first.version} and {second.name} {second.version} both install "
        f"{path}; a release cannot hold both. Drop one of them from the app's dependencies (or pin versions "
        "that do not clash), then re-lock"
    )


def dumps(manifest: Mapping[str, Any]) -> str:
    """The manifest file's text: sorted keys, one entry per line, newline at the end."""
    return json.dumps(manifest, sort_keys=True, indent=1) + "\n"


def read_manifest(path: Path) -> ReleaseManifest:
    """A release manifest whose content matches its id (the pipeline wrote it, nobody changed it since)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot read release manifest {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("id") != release_id(data):
        got = data.get("id") if isinstance(data, dict) else None
        raise PipelineError(f"{path}: its content does not match its id {got!r}: modified or corrupt")
    return cast(ReleaseManifest, data)
