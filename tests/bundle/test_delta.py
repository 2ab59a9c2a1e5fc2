"""Layer deltas: made on the controller from two real layers of tiny wheels, applied as a robot applies them.

A rebuilt layer must be the layer its full archive gives (every file, mode and time, every
directory); a delta that does not rebuild it, or a robot whose old layer is not the delta's, must
leave nothing behind and the old layer as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import shutil
import tarfile
from pathlib import Path

import pytest
from bundle_testing import Repo
from horus_testing import require_host_packages
from pypi_testing import Index, Wheel

from horus_pipeline.bundle import delta
from horus_pipeline.bundle.build import build_bundle, diff
from horus_pipeline.bundle.layers import Layer, build_wheel_layer
from horus_pipeline.bundle.release import read_manifest
from horus_pipeline.robot import assemble
from horus_pipeline.robot import delta as robot_delta
from horus_pipeline.sim.prereqs import DELTA_PACKAGES
from horus_pipeline.targets import ARCHES, DEBIAN_RELEASES

TARGET = DEBIAN_RELEASES["bookworm"].target(ARCHES["x86_64"])
MOVED = "'''A module that moves between versions, unchanged.'''\nVALUE = 42\n"


def blob(seed: int, size: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789\n") for _ in range(size))


def wheel(version: str) -> Wheel:
    """Two versions share files as consecutive releases do: kept, moved, edited in place, added, removed."""
    big = blob(1, 200_000)
    files = {
        "pkg/__init__.py": f"VERSION = {version!r}\n",
        "pkg/same.py": "def same():\n    return 'unchanged'\n",
        f"pkg-{version}.data/scripts/pkg-tool": "#!python\nimport pkg\nprint(pkg.VERSION)\n",
    }
    if version == "1.0":
        files |= {"pkg/big.bin": big, "pkg/old_place.py": MOVED, "pkg/gone.py": "GONE = 1\n"}
    else:
        edited = big[:100_000] + "an edit in the middle of a big file\n" + big[100_000:]
        files |= {"pkg/big.bin": edited, "pkg/sub/new_place.py": MOVED, "pkg/sub/added.py": blob(2, 5_000)}
    return Wheel("pkg", version, files=files, executable=(f"pkg-{version}.data/scripts/pkg-tool",))


def layer(version: str, where: Path) -> Layer:
    w = wheel(version)
    path = where / w.filename
    path.write_bytes(w.data())
    return build_wheel_layer(path, hashlib.sha256(path.read_bytes()).hexdigest(), "package", "pkg", version, TARGET)[0]


def tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under root: (mode, mtime, sha256 of a file's bytes or "" for a directory)."""
    found = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        found[p.relative_to(root).as_posix()] = (st.st_mode, int(st.st_mtime), digest)
    return found


@pytest.fixture
def layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Layer, Layer]:
    if not all(shutil.which(tool) for tool in DELTA_PACKAGES):
        require_host_packages(DELTA_PACKAGES, "zstd and xdelta3, which write and apply layer deltas")
    monkeypatch.setenv("HORUS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    # Small thresholds, so these small layers have a file patched alone (by xdelta3, too big for zstd
    # here) and several groups of files.
    monkeypatch.setattr(delta, "ALONE_BYTES", 64 << 10)
    monkeypatch.setattr(delta, "GROUP_BYTES", 2 << 10)
    monkeypatch.setattr(delta, "ZSTD_MAX_BYTES", 100 << 10)
    return layer("1.0", tmp_path), layer("1.1", tmp_path)


def robot_with(old: Layer, root: Path) -> Path:
    """A robot's prefix holding the old layer, unpacked as a deploy unpacks it."""
    return Path(assemble.unpack(str(root), str(old.archive), old.archive_sha256))


def test_a_layer_rebuilt_from_a_delta_is_the_layer_of_the_full_archive(
    layers: tuple[Layer, Layer], tmp_path: Path
) -> None:
    old, new = layers
    made = delta.layer_delta(old, new)
    site = "lib/python3.11/site-packages/pkg"
    plan = plan_of(made.path)
    copies = {path: ref for path, _, ref in plan["copies"]}
    assert copies[f"{site}/same.py"] == f"{site}/same.py"
    assert copies[f"{site}/sub/new_place.py"] == f"{site}/old_place.py"  # moved: taken from where it was
    groups = {path: group for group in plan["groups"] for path, _, _ in group["files"]}
    big, added = groups[f"{site}/big.bin"], groups[f"{site}/sub/added.py"]
    assert (big["refs"], big["member"].endswith(".vcdiff")) == ([f"{site}/big.bin"], True)  # alone, xdelta3
    assert (added["refs"], added["member"].endswith(".zst")) == ([], True)  # nothing to patch against: compressed
    assert f"{site}/gone.py" not in copies | groups
    assert made.copied == len(copies) and made.added >= 1  # added.py has no counterpart
    assert made.copied + made.patched + made.added == len(copies) + len(groups)
    assert made.size < new.archive_size / 2
    assert delta.layer_delta(old, new) == made  # the second time from the cache
    root = tmp_path / "robot"
    old_dir = robot_with(old, root)
    before = tree(old_dir)

    rebuilt = robot_delta.apply_delta(str(root), str(made.path), made.sha256, old.hash, new.hash, new.index_sha256)

    full = assemble.unpack(str(tmp_path / "full"), str(new.archive), new.archive_sha256)
    assert tree(Path(rebuilt)) == tree(Path(full))
    assert tree(old_dir) == before
    assert sorted(p.name for p in (root / "layers").iterdir()) == sorted([old.hash, new.hash])


def test_a_delta_is_the_same_bytes_whatever_the_directories(layers: tuple[Layer, Layer], tmp_path: Path) -> None:
    old, new = layers
    outs = []
    for where in ("one", "two/deeper"):
        base = tmp_path / where
        old_dir = Path(assemble.unpack(str(base / "a"), str(old.archive), old.archive_sha256))
        new_dir = Path(assemble.unpack(str(base / "b"), str(new.archive), new.archive_sha256))
        outs.append(delta.write_delta(old_dir, new_dir, old.hash, new.hash, base / "out.delta"))
    assert outs[0] == outs[1]
    assert (tmp_path / "one" / "out.delta").read_bytes() == (tmp_path / "two" / "deeper" / "out.delta").read_bytes()
    with tarfile.open(tmp_path / "one" / "out.delta") as tar:
        members = tar.getmembers()
    assert members[0].name == robot_delta.PLAN_NAME
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o644)}


def plan_of(path: Path) -> dict:
    with tarfile.open(path) as tar:
        return json.loads(gzip.decompress(tar.extractfile(robot_delta.PLAN_NAME).read()))  # type: ignore[union-attr]


def rewritten(path: Path, edit: str) -> str:
    """Rewrite the delta at `path` with the middle byte of its first patch of a kind flipped ("zst", "vcdiff"),
    or its first copy taken from another old file ("plan"); the new file's sha256."""
    with tarfile.open(path) as tar:
        entries = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    out = io.BytesIO()
    patch = next(m.name for m, _ in entries if m.name.endswith(f".{edit}")) if edit != "plan" else ""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in entries:
            if member.name == patch:
                data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :]
            if edit == "plan" and member.name == robot_delta.PLAN_NAME:
                plan = json.loads(gzip.decompress(data))
                plan["copies"][0][2] = "lib/python3.11/site-packages/pkg/big.bin"
                data = gzip.compress(json.dumps(plan).encode(), mtime=0)
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    path.write_bytes(out.getvalue())
    return hashlib.sha256(out.getvalue()).hexdigest()


def assert_refused(root: Path, old: Layer, before: dict[str, tuple[int, int, str]], error: Exception) -> None:
    assert "send the full layer" in str(error)
    assert [p.name for p in (root / "layers").iterdir()] == [old.hash]  # nothing left behind
    assert tree(root / "layers" / old.hash) == before


@pytest.mark.parametrize("edit", ["zst", "vcdiff", "plan"])
def test_a_corrupt_delta_is_refused_and_leaves_nothing(layers: tuple[Layer, Layer], tmp_path: Path, edit: str) -> None:
    old, new = layers
    made = delta.layer_delta(old, new)
    root = tmp_path / "robot"
    before = tree(robot_with(old, root))
    corrupt = tmp_path / "corrupt.delta"
    shutil.copyfile(made.path, corrupt)
    sha256 = rewritten(corrupt, edit)

    with pytest.raises(robot_delta.DeltaError) as wrong_sum:
        robot_delta.apply_delta(str(root), str(corrupt), made.sha256, old.hash, new.hash, new.index_sha256)
    assert_refused(root, old, before, wrong_sum.value)
    # Even with the sha256 of the corrupt bytes (a manifest that names them), the index check refuses it.
    with pytest.raises(robot_delta.DeltaError) as wrong_bytes:
        robot_delta.apply_delta(str(root), str(corrupt), sha256, old.hash, new.hash, new.index_sha256)
    assert_refused(root, old, before, wrong_bytes.value)


def test_a_robot_without_the_right_old_layer_is_refused(layers: tuple[Layer, Layer], tmp_path: Path) -> None:
    old, new = layers
    made = delta.layer_delta(old, new)
    args = (str(made.path), made.sha256)

    with pytest.raises(robot_delta.DeltaUnavailable, match="does not have layer"):
        robot_delta.apply_delta(str(tmp_path / "empty"), *args, old.hash, new.hash, new.index_sha256)

    root = tmp_path / "robot"
    old_dir = robot_with(old, root)
    with pytest.raises(robot_delta.DeltaError, match=r"not .* into"):  # the delta of another pair of layers
        robot_delta.apply_delta(str(root), *args, old.hash, "f" * 64, new.index_sha256)

    big = old_dir / "lib/python3.11/site-packages/pkg/big.bin"  # an old layer modified on the robot
    big.chmod(0o644)
    big.write_text(blob(3, 200_000))
    before = tree(old_dir)
    with pytest.raises(robot_delta.DeltaError) as modified:
        robot_delta.apply_delta(str(root), *args, old.hash, new.hash, new.index_sha256)
    assert_refused(root, old, before, modified.value)


@pytest.mark.parametrize("tool", ["zstd", "xdelta3"])
def test_a_robot_without_the_patch_tools_is_told_to_take_the_full_layer(
    layers: tuple[Layer, Layer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    old, new = layers
    made = delta.layer_delta(old, new)
    root = tmp_path / "robot"
    before = tree(robot_with(old, root))
    which = shutil.which
    monkeypatch.setattr(robot_delta.shutil, "which", lambda name: None if name == tool else which(name))
    with pytest.raises(robot_delta.DeltaUnavailable, match=f"{tool} is not installed") as missing:
        robot_delta.apply_delta(str(root), str(made.path), made.sha256, old.hash, new.hash, new.index_sha256)
    assert_refused(root, old, before, missing.value)


def test_a_pin_bump_offers_the_package_s_delta_in_the_signed_manifest_and_keeps_the_release_id(
    repo: Repo, index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`nox -s bundle` after a pin bump: the bumped package's layer names its delta from the previous
    release's layer (published beside the layers, of the sha256 and size named, and rebuilding the
    layer the manifest names); small layers travel whole; the release id is the one a build without
    any history gives, and a rebuild offers the same delta."""
    if not all(shutil.which(tool) for tool in DELTA_PACKAGES):
        require_host_packages(DELTA_PACKAGES, "zstd and xdelta3, which write and apply layer deltas")
    monkeypatch.setattr(delta, "DELTA_MIN_BYTES", 100_000)  # pkg's layer is about 150 kB, fakenum's 1 kB
    index.add(wheel("1.0"), wheel("1.1"))
    repo.lock(fakenum="1.0", fakeext="2.0", pkg="1.0")
    first = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    repo.lock(fakenum="1.1", fakeext="2.0", pkg="1.1")
    second = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)

    before = {la["name"]: la for la in read_manifest(first.manifest)["layers"]}
    after = {la["name"]: la for la in read_manifest(second.manifest)["layers"]}
    assert not any("delta" in la for la in before.values())  # nothing before it: everything whole
    offer = after["pkg"]["delta"]
    assert offer["from"] == before["pkg"]["hash"]
    assert "delta" not in after["fakenum"]  # bumped too, but under DELTA_MIN_BYTES
    sent = repo.out / repo.spec.name / robot_delta.delta_archive(offer["from"], after["pkg"]["hash"])
    assert hashlib.sha256(sent.read_bytes()).hexdigest() == offer["sha256"]
    assert offer["size"] == sent.stat().st_size < after["pkg"]["archive_size"]

    _, _, receive = diff(read_manifest(first.manifest), read_manifest(second.manifest))  # what --diff shows
    assert receive.whole - receive.sent == after["pkg"]["archive_size"] - offer["size"]

    robot = tmp_path / "robot"
    bundle = repo.out / repo.spec.name
    old = assemble.unpack(str(robot), str(bundle / before["pkg"]["archive"]), before["pkg"]["archive_sha256"])
    rebuilt = robot_delta.apply_delta(
        str(robot), str(sent), offer["sha256"], offer["from"], after["pkg"]["hash"], after["pkg"]["index_sha256"]
    )
    whole = assemble.unpack(
        str(tmp_path / "whole"), str(bundle / after["pkg"]["archive"]), after["pkg"]["archive_sha256"]
    )
    assert tree(Path(rebuilt)) == tree(Path(whole)) and Path(old).is_dir()

    text = second.manifest.read_bytes()
    again = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert (again.release, again.manifest.read_bytes()) == (second.release, text)
    fresh = build_bundle(repo.spec, tmp_path / "elsewhere", wheels_dir=repo.wheels)
    assert fresh.release == second.release
    assert not any("delta" in la for la in read_manifest(fresh.manifest)["layers"])
