"""The software bill of materials of a release: a CycloneDX 1.6 JSON document, `sbom.cdx.json`.

It lists every Python package of the release (name, version, purl, the sha256 of the wheel it
was installed from, the license its metadata declares), the horus core, and the app as the
subject, with the robot target as properties. It ships in a layer of its own (kind `sbom`,
unpacked into the release directory beside assemble.py), so the release id and signature cover
it and a robot that already has it receives nothing. On a robot, `horus sbom` prints it.

Byte-for-byte reproducible: the timestamp is SOURCE_DATE_EPOCH and the serial number is derived
from the content, never random.
"""

from __future__ import annotations

import email.parser
import json
import tarfile
import uuid
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import License
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from ..cache import cache_dir
from ..determinism import source_date_epoch
from ..images import ImageSpec
from ..lock.lockfile import canonicalize_name
from .layers import Layer
from .wheels import wheel_cache

if TYPE_CHECKING:
    from .release import ReleaseManifest

FILENAME = "sbom.cdx.json"
# Serial numbers are UUIDv5 of the document's content in this namespace.
_NAMESPACE = uuid.UUID("6f1c2a8e-4b1d-5c3e-9a7f-0d2e4b6c8a10")
_LICENSE_CLASSIFIER = "License :: "


def _metadata_from_wheel(wheel: Path) -> bytes | None:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        return zf.read(names[0]) if names else None


def _metadata_from_layer(archive: Path) -> bytes | None:
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".dist-info/METADATA") and member.name.count("/") <= 4:
                extracted = tar.extractfile(member)
                return extracted.read() if extracted else None
    return None


def _metadata(layer: Layer) -> bytes | None:
    """The package's METADATA: from its wheel when cached (random access), else from the layer."""
    wheels = sorted((wheel_cache() / layer.source_sha256).glob("*.whl"))
    if wheels:
        return _metadata_from_wheel(wheels[0])
    return _metadata_from_layer(layer.archive) if layer.archive.is_file() else None


def package_licenses(layer: Layer) -> list[str]:
    """What the package's metadata says of its license: License-Expression (PEP 639), else the
    License field when short, else the trove classifiers. Remembered per layer (it never changes)."""
    remembered = cache_dir("sbom") / f"{layer.hash}.json"
    if remembered.is_file():
        return list(json.loads(remembered.read_text()))
    raw = _metadata(layer)
    found: list[str] = []
    if raw is not None:
        meta = email.parser.BytesHeaderParser().parsebytes(raw)
        if meta.get("License-Expression"):
            found = [str(meta["License-Expression"]).strip()]
        elif meta.get("License") and "\n" not in str(meta["License"]).strip() and len(str(meta["License"])) < 100:
            found = [str(meta["License"]).strip()]
        else:
            classifiers = [str(c) for c in meta.get_all("Classifier") or [] if str(c).startswith(_LICENSE_CLASSIFIER)]
            found = sorted({c.split(" :: ")[-1] for c in classifiers})
    remembered.write_text(json.dumps(found))
    return found


def _component(layer: Layer, licenses: Sequence[str]) -> Component:
    factory = LicenseFactory()
    made: list[License] = [factory.make_from_string(text) for text in licenses]
    return Component(
        type=ComponentType.LIBRARY,
        name=layer.name,
        version=layer.version,
        bom_ref=f"pkg:pypi/{canonicalize_name(layer.name)}@{layer.version}",
        purl=PackageURL("pypi", name=canonicalize_name(layer.name), version=layer.version),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=layer.source_sha256)],
        licenses=made,
    )


def render(spec: ImageSpec, layers: Sequence[Layer], app: tuple[str, str]) -> str:
    """The SBOM document of a release made of these layers."""
    target = spec.target
    subject = Component(
        type=ComponentType.APPLICATION,
        name=app[0],
        version=app[1],
        bom_ref=f"horus-app:{app[0]}@{app[1]}",
        properties=[
            Property(name="horus:image", value=spec.name),
            Property(name="horus:target:arch", value=target.arch.name),
            Property(name="horus:target:python", value=target.python),
            Property(name="horus:target:glibc", value=f"{target.glibc[0]}.{target.glibc[1]}"),
        ],
    )
    wheels = sorted((la for la in layers if la.kind in ("package", "core")), key=lambda la: la.name)
    components = [_component(la, package_licenses(la)) for la in wheels]
    bom = Bom(
        components=components,
        metadata=BomMetaData(component=subject, timestamp=datetime.fromtimestamp(source_date_epoch(), tz=UTC)),
    )
    bom.register_dependency(subject, components)  # the lock is flat: the app needs every package
    bom.serial_number = _NAMESPACE  # placeholder of fixed text while the content is hashed
    draft = JsonV1Dot6(bom).output_as_string(indent=1)
    bom.serial_number = uuid.uuid5(_NAMESPACE, draft)
    return JsonV1Dot6(bom).output_as_string(indent=1) + "\n"


def write(spec: ImageSpec, layers: Sequence[Layer], app: tuple[str, str], into: Path) -> Path:
    """Write the release's SBOM as into/sbom.cdx.json (a directory of its own) and return its path."""
    path = into / FILENAME
    path.write_text(render(spec, layers, app), encoding="utf-8")
    return path


def of_release(manifest: ReleaseManifest, bundle: Path) -> dict[str, Any] | None:
    """The SBOM a release ships (read from its sbom layer's archive under `bundle`), if it has one."""
    for layer in manifest["layers"]:
        if layer["kind"] == "sbom":
            with tarfile.open(bundle / layer["archive"]) as tar:
                member = tar.extractfile(FILENAME)
                return cast(dict[str, Any], json.loads(member.read())) if member else None
    return None


def _packages(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    found = {}
    for c in doc.get("components", []):
        licenses = " / ".join(
            e.get("expression") or e.get("license", {}).get("id") or e.get("license", {}).get("name") or "?"
            for e in c.get("licenses", [])
        )
        found[c["name"]] = (c.get("version", "?"), licenses or "-")
    return found


def diff_lines(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two SBOMs, a line per package: added, removed, new version or license."""
    before, after = _packages(old), _packages(new)
    lines = []
    for name in sorted(before.keys() | after.keys()):
        if name not in before:
            lines.append(f"  + {name} {after[name][0]} ({after[name][1]})")
        elif name not in after:
            lines.append(f"  - {name} {before[name][0]}")
        elif before[name] != after[name]:
            (v0, l0), (v1, l1) = before[name], after[name]
            lines.append(f"  ~ {name} {v0} -> {v1}" + (f" (license {l0} -> {l1})" if l0 != l1 else ""))
    return lines
