"""Bundles from real tiny wheels: reproducible bytes, incremental layers, clear refusals."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from bundle_testing import Repo
from horus_testing import require
from pypi_testing import Index

from horus_pipeline import REPO
from horus_pipeline.bundle.build import build_bundle, diff, main
from horus_pipeline.bundle.deploydata import DeployData, DeployService
from horus_pipeline.bundle.release import ConflictError, ManifestLayer, ReleaseManifest, read_manifest
from horus_pipeline.bundle.signing import configured_key
from horus_pipeline.bundle.wheels import WheelError
from horus_pipeline.cache import cache_dir
from horus_pipeline.determinism import DEFAULT_EPOCH, sha256_file, write_tar_gz
from horus_pipeline.errors import PipelineError
from horus_pipeline.lock.compile import StaleLockError


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_tar_entry_has_the_epoch_root_owner_and_a_normalised_mode(tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "pkg" / "sub").mkdir(parents=True)
    (src / "pkg" / "a.py").write_text("a")
    (src / "pkg" / "sub" / "tool").write_text("#!/bin/sh\n")
    os.chmod(src / "pkg" / "sub" / "tool", 0o700)
    os.chmod(src / "pkg" / "a.py", 0o600)
    os.chmod(src / "pkg" / "sub", 0o700)
    write_tar_gz(src, tmp_path / "out.tar.gz")
    raw = (tmp_path / "out.tar.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0", "gzip header mtime must be 0"
    assert raw[3] & 0x08 == 0, "gzip header must carry no file name"
    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["pkg", "pkg/a.py", "pkg/sub", "pkg/sub/tool"]
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (DEFAULT_EPOCH, 0, 0, "", ""), m.name
        assert m.mode == (0o755 if m.isdir() or m.name.endswith("tool") else 0o644), m.name
    assert not (tmp_path / "out.tar.gz~").exists()


def _shuffled(monkeypatch: pytest.MonkeyPatch) -> None:
    real_scandir, real_listdir = os.scandir, os.listdir
    rng = random.Random(4)

    class Shuffled:
        def __init__(self, path: object = ".") -> None:
            with real_scandir(path) as it:  # type: ignore[call-overload]
                self.entries = list(it)
            rng.shuffle(self.entries)
            self.it = iter(self.entries)

        def __iter__(self) -> Iterator[os.DirEntry[str]]:
            return self

        def __next__(self) -> os.DirEntry[str]:
            return next(self.it)

        def __enter__(self) -> Shuffled:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def close(self) -> None:
            pass

    def listdir(path: object = ".") -> list[str]:
        names = real_listdir(path)  # type: ignore[call-overload]
        rng.shuffle(names)
        return names  # type: ignore[no-any-return]

    monkeypatch.setattr(os, "scandir", Shuffled)
    monkeypatch.setattr(os, "listdir", listdir)


def test_shuffled_directory_order_gives_the_same_bytes(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_bundle(repo.spec, repo.root / "a", wheels_dir=repo.wheels)
    monkeypatch.setenv("HORUS_CACHE", str(repo.root / "cache-b"))
    with monkeypatch.context() as m:
        _shuffled(m)
        second = build_bundle(repo.spec, repo.root / "b", wheels_dir=repo.wheels)
    assert first.release == second.release
    assert tree_bytes(repo.root / "a") == tree_bytes(repo.root / "b")


def _build_in_clone(src: Path, dest: Path, seed: str, cache: Path) -> Path:
    shutil.copytree(src, dest)
    spec = dest / "images" / "fake-x86_64.toml"
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env.update(PYTHONHASHSEED=seed, HORUS_CACHE=str(cache))
    subprocess.run(
        [sys.executable, "-m", "horus_pipeline.bundle", str(spec), "--out", str(dest / "dist"),
         "--core-wheels", str(dest / "core-wheels")],
        check=True, env=env, cwd=REPO, capture_output=True,
    )  # fmt: skip
    return dest / "dist"


def test_clones_at_different_paths_and_hash_seeds_build_identical_bytes(repo: Repo, tmp_path: Path) -> None:
    one = _build_in_clone(repo.root, tmp_path / "clone-one", "1", tmp_path / "cache-1")
    two = _build_in_clone(repo.root, tmp_path / "somewhere" / "else" / "clone-two", "2", tmp_path / "cache-2")
    a, b = tree_bytes(one), tree_bytes(two)
    assert a.keys() == b.keys() and len(a) > 10
    for name in a:
        assert a[name] == b[name], f"{name} differs between clones"
    # Nothing of this machine in what ships: no paths, no index URLs.
    for name, data in a.items():
        blobs = [data]
        if name.endswith(".tar.gz"):
            with tarfile.open(one / name) as tar:
                blobs = [tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()]  # type: ignore[union-attr]
                blobs += [m.name.encode() for m in tar.getmembers()]
        for blob in blobs:
            for leak in (str(tmp_path).encode(), b"file://", b"/opt/wheels", str(Path.home()).encode()):
                assert leak not in blob, f"{name} records {leak!r}"


def test_a_one_pin_bump_rebuilds_only_that_layer(repo: Repo) -> None:
    old = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert old.built[0] == "package fakeext 2.0"
    again = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert again.built == [] and again.release == old.release
    repo.lock(fakenum="1.1", fakeext="2.0")
    new = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert new.built == ["package fakenum 1.1", "sbom"]  # the SBOM names the new version
    shared, fresh, receive = diff(read_manifest(old.manifest), read_manifest(new.manifest))
    assert [(la["name"], la["version"]) for la in fresh] == [("fakenum", "1.1"), ("sbom", "cyclonedx-1.6")]
    assert {la["name"] for la in shared} == {"fakeext", "horus-core", "fake", "assemble"}
    # Layers this small get no delta (DELTA_MIN_BYTES): sent whole, the same bytes either way.
    expected = sum(la["archive_size"] for la in fresh) + new.manifest.stat().st_size
    assert (receive.sent, receive.whole, receive.layers) == (expected, expected, 2)
    assert (repo.out / "fake-x86_64" / "latest").read_text() == f"{new.release}\n"


def test_an_app_only_change_ships_only_the_app_layer(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    old = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    (repo.app / "main.py").write_text("print('robot v2')\n")
    (repo.app / "__pycache__").mkdir()
    (repo.app / "__pycache__" / "junk.pyc").write_bytes(b"junk")  # never shipped
    new = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert new.built == ["app fake 0.1.0"]
    _, fresh, _ = diff(read_manifest(old.manifest), read_manifest(new.manifest))
    assert [la["kind"] for la in fresh] == ["app"]
    assert main(["--out", str(repo.out), "--diff", str(old.manifest), f"fake-x86_64/{new.release}"]) == 0
    out = capsys.readouterr().out
    assert "layers to send (1)" in out and "+ app     fake 0.1.0" in out


def test_the_manifest_names_layers_scripts_and_every_file(repo: Repo) -> None:
    result = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    manifest = read_manifest(result.manifest)
    assert set(manifest) == ReleaseManifest.__required_keys__
    assert all(set(la) == ManifestLayer.__required_keys__ for la in manifest["layers"])
    assert manifest["target"] == {"arch": "x86_64", "python": "3.11", "glibc": "2.36"}
    assert manifest["python"] == {"executable": "/usr/bin/python3.11", "home": "/usr/bin", "pyc": "checked-hash"}
    kinds = [(la["kind"], la["name"]) for la in manifest["layers"]]
    assert kinds == [("package", "fakeext"), ("package", "fakenum"), ("core", "horus-core"), ("app", "fake"),
                     ("tool", "assemble"), ("sbom", "sbom")]  # fmt: skip
    assert manifest["console_scripts"] == [
        {"name": "fakenum-cli", "module": "fakenum", "attr": "main", "section": "console"}
    ]
    for la in manifest["layers"]:
        archive = repo.out / "fake-x86_64" / la["archive"]
        assert sha256_file(archive) == la["archive_sha256"]
        assert (archive.parent / (archive.name + ".sha256")).read_text().split()[0] == la["archive_sha256"]
        with tarfile.open(archive) as tar:
            index = tar.extractfile(".horus-layer.json").read()  # type: ignore[union-attr]
            files = json.loads(index)["files"]
            assert len(files) == la["files"]
            for name, digest in files.items():
                import hashlib

                assert hashlib.sha256(tar.extractfile(name).read()).hexdigest() == digest  # type: ignore[union-attr]
    ext = next(la for la in manifest["layers"] if la["name"] == "fakeext")
    assert ext["modules"] == ["fakeext"]
    with tarfile.open(repo.out / "fake-x86_64" / ext["archive"]) as tar:
        names = tar.getnames()
        script = tar.extractfile("bin/fakeext-tool").read()  # type: ignore[union-attr]
    assert "lib/python3.11/site-packages/fakeext/__pycache__/__init__.cpython-311.pyc" in names
    assert "share/fakeext/readme.txt" in names
    assert script.startswith(b"#!/bin/sh\n'''exec'")


def test_two_packages_installing_the_same_file_are_refused(repo: Repo) -> None:
    repo.lock(fakenum="1.0", clash="1.0")
    with pytest.raises(ConflictError, match=r"clash 1.0 and fakenum 1.0 both install venv/.*fakenum/__init__.py"):
        build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert not (repo.out / "fake-x86_64" / "latest").exists()


def test_a_package_with_no_wheel_for_the_target_is_named(repo: Repo) -> None:
    repo.lock(fakenum="1.0", armonly="1.0")
    with pytest.raises(WheelError, match=r"no wheel of armonly==1.0 for x86_64, CPython 3.11.*Fix: pin a version"):
        build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)


def test_a_stale_lock_is_refused_with_the_relock_command(repo: Repo) -> None:
    (repo.app / "horus.toml").write_text(
        '[package]\nname = "fake"\nversion = "0.1.0"\n\n[dependencies]\n'
        'fakenum = { version = ">=1.1", source = "pypi" }\n'
    )
    with pytest.raises(StaleLockError, match="nox -s lock -- fake-x86_64"):
        build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)


def test_a_missing_image_is_an_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-image"]) == 1
    assert "unknown image 'no-such-image'" in capsys.readouterr().err


def _corrupt_cached_wheel(name: str) -> Path:
    (wheel,) = [p for p in cache_dir("wheels").glob(f"*/{name}-*.whl")]
    wheel.write_bytes(b"corrupt" + wheel.read_bytes()[7:])
    shutil.rmtree(cache_dir("layers"))
    return wheel


def test_a_corrupt_cached_wheel_is_fetched_again_or_refused(repo: Repo, index: Index) -> None:
    first = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    wheel = _corrupt_cached_wheel("fakenum")
    again = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert again.release == first.release
    assert sha256_file(wheel) == index.sha256_of("fakenum", "1.0")
    # With the index gone it cannot be fetched again: refused, never used.
    _corrupt_cached_wheel("fakenum")
    shutil.rmtree(index.root / "simple")
    (index.root / "simple").mkdir()
    with pytest.raises(WheelError):
        build_bundle(repo.spec, repo.root / "other", wheels_dir=repo.wheels)
    assert not (repo.root / "other" / "fake-x86_64" / "latest").exists()


def test_a_full_disk_keeps_nothing_half_written(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    require(os.geteuid() == 0 and shutil.which("mount") is not None, "needs root to mount a small tmpfs")
    small = repo.root / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(small)], check=True)
    try:
        code = main([str(repo.spec_path), "--out", str(small), "--core-wheels", str(repo.wheels)])
        assert code == 1
        assert "disk full" in capsys.readouterr().err
        left = [p.name for p in small.rglob("*") if p.is_file()]
        assert not [n for n in left if n.endswith("~")], left
        # What has its final name is complete: releases read and match their ids, archives unpack.
        for manifest in small.rglob("releases/*.json"):
            read_manifest(manifest)
        for archive in small.rglob("*.tar.gz"):
            with tarfile.open(archive) as tar:
                assert tar.getmembers()
        assert "latest" not in left
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_signed_manifests_verify_with_ssh_keygen(repo: Repo, tmp_path: Path) -> None:
    require(shutil.which("ssh-keygen") is not None, "ssh-keygen is not installed (openssh-client)")
    key = tmp_path / "release_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", str(key)], check=True)
    result = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels, sign_key=key)
    sig = result.manifest.with_name(result.manifest.name + ".sig")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ci@robots {(tmp_path / 'release_key.pub').read_text()}")
    verify = ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "ci@robots", "-n", "horus-release",
              "-s", str(sig)]  # fmt: skip
    subprocess.run(verify, input=result.manifest.read_bytes(), check=True, capture_output=True)
    bad = subprocess.run(verify, input=result.manifest.read_bytes() + b" ", capture_output=True)
    assert bad.returncode != 0
    first = sig.read_bytes()
    build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels, sign_key=key)
    assert sig.read_bytes() == first  # Ed25519: the same release signs to the same bytes
    build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert not sig.exists()  # an unsigned rebuild of the id leaves no signature it did not make


def test_release_serial_orders_releases_and_is_part_of_the_id(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    default = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert read_manifest(default.manifest)["serial"] == default.serial == 1700000000
    later = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels, serial=1700000001)
    assert read_manifest(later.manifest)["serial"] == 1700000001 and later.release != default.release
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(PipelineError, match="SOURCE_DATE_EPOCH='yesterday' is not a whole number"):
        build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)


def test_signing_key_comes_from_the_flag_the_environment_or_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("HORUS_RELEASE_KEY", raising=False)
    assert configured_key() is None  # nothing configured: unsigned, and the build says so
    default = tmp_path / "config" / "horus" / "release_key"
    default.parent.mkdir(parents=True)
    default.write_text("key")
    assert configured_key() == default
    monkeypatch.setenv("HORUS_RELEASE_KEY", str(tmp_path / "missing"))
    with pytest.raises(PipelineError, match=r"\(from \$HORUS_RELEASE_KEY\) does not exist.*ssh-keygen -t ed25519"):
        configured_key()
    assert configured_key(default) == default


def test_layer_archives_are_whole_gzip_streams_with_no_name_or_time(repo: Repo) -> None:
    result = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    for la in result.layers:
        data = la.archive.read_bytes()
        magic, method, flags, mtime = data[:2], data[2], data[3], data[4:8]
        # No FNAME/FCOMMENT/FEXTRA (flags 0) and mtime 0: nothing of the build machine or hour.
        assert (magic, method, flags, mtime) == (b"\x1f\x8b", 8, 0, b"\0\0\0\0"), la.name
        tar = gzip.decompress(data)  # checks the trailer's CRC and length: the archive is complete
        assert len(tar) % 512 == 0 and tar[-1024:] == bytes(1024), la.name


def test_how_the_release_runs_is_in_its_manifest_under_its_id(repo: Repo) -> None:
    result = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    data = read_manifest(result.manifest)["deploy"]
    assert set(data) == DeployData.__required_keys__
    assert [set(s) for s in data["services"]] == [DeployService.__required_keys__] * len(repo.spec.services)
    assert data["user"] == repo.spec.user and data["app"] == "fake"
    assert data["health"] == {"host": "127.0.0.1", "port": 8080, "path": "/health"}
    assert not (repo.out / "fake-x86_64" / "deploy.json").exists()  # no unsigned side file
    # Editing how it runs (here: the service user) after the build breaks the manifest's id.
    text = result.manifest.read_text().replace('"user": "horus"', '"user": "root"')
    result.manifest.write_text(text)
    with pytest.raises(PipelineError, match="does not match its id"):
        read_manifest(result.manifest)


def test_a_release_failing_the_doctor_is_not_built_unless_asked(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    (repo.app / "main.py").write_text(
        "import horus\n\nhorus.run(horus.Node(name='motor', tick=lambda n: None, rate=10))\n"
    )
    args = [str(repo.spec_path), "--out", str(repo.out), "--core-wheels", str(repo.wheels)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "fails 1 pre-deployment check(s)" in err and "failure_policy" in err
    assert not (repo.out / repo.spec.name).exists()  # nothing built, nothing to deploy
    assert main([*args, "--no-doctor"]) == 0
    assert (repo.out / repo.spec.name / "latest").is_file()
