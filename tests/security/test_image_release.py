"""`nox -s image` from a dist/ someone else can write: a release whose manifest or layers were changed
after it was built is refused before anything is written (the last image stays as it was), as a robot
would refuse it; only --allow-unsigned skips the signature check, and never the grammar of what
the robot will run. The build is refused before it starts, so nothing here builds a disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bundle.bundle_testing import Repo, default_wheels
from horus_testing import require
from pypi_testing import Index, isolate_pip

from horus_pipeline import REPO
from horus_pipeline.bundle.build import build_bundle
from horus_pipeline.bundle.signing import SIGN_NAMESPACE, SIGNER_IDENTITY, Signers
from horus_pipeline.errors import PipelineError
from horus_pipeline.image.build import build_image
from horus_pipeline.image.trusted import stage, trusted_release
from horus_pipeline.robot.assemble import release_id

# What another user left beside the outputs: the last good image, which a refused build must not touch.
PREVIOUS = {"0123456789abcdef.img.zst": b"the last good image\n", "0123456789abcdef.image.json": b"{}\n"}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    require(shutil.which("ssh-keygen") is not None, "ssh-keygen is not installed (openssh-client)")
    index = Index(tmp_path / "index")
    index.add(*default_wheels())
    isolate_pip(monkeypatch, index, tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.delenv("HORUS_RELEASE_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no release key of this machine's
    r = Repo(tmp_path / "repo", index)
    r.lock(fakenum="1.0", fakeext="2.0")
    return r


@pytest.fixture
def key(tmp_path: Path) -> Path:
    key = tmp_path / "keys" / "release_key"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", str(key)], check=True)
    public = key.with_name("release_key.pub").read_text()
    key.with_name("allowed_signers").write_text(f'{SIGNER_IDENTITY} namespaces="{SIGN_NAMESPACE}" {public}')
    return key


def signers_of(key: Path) -> Path:
    return key.with_name("allowed_signers")


def previous_outputs(out: Path, image: str) -> Path:
    dest = out / image
    dest.mkdir(parents=True)
    for name, data in PREVIOUS.items():
        (dest / name).write_bytes(data)
    return dest


def nox_image(repo: Repo, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """What `nox -s image -- ...` runs; a build that got past the checks would take minutes: the timeout
    turns that into a failure."""
    argv = [sys.executable, "-m", "horus_pipeline.image", str(repo.spec_path), "--bundles", str(repo.out)]
    return subprocess.run(
        [*argv, "--out", str(out), *args], capture_output=True, text=True, timeout=120, cwd=REPO, env=os.environ
    )


def edit(manifest: Path, change: dict[str, object], *, rename: bool) -> Path:
    """Edit a release manifest in place as someone who can write dist/ would: the id recomputed so the
    content matches it; with `rename`, moved to that id's name and made `latest`."""
    data = json.loads(manifest.read_text())
    data["deploy"].update(change)
    data["id"] = release_id(data)
    manifest.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    if not rename:
        return manifest
    moved = manifest.with_name(f"{data['id']}.json")
    manifest.rename(moved)
    (manifest.parent.parent / "latest").write_text(f"{data['id']}\n")
    return moved


def assert_untouched(dest: Path) -> None:
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == PREVIOUS, "a refused build touched the outputs"


def test_a_signed_release_edited_in_place_is_refused_and_the_last_image_left(
    repo: Repo, key: Path, tmp_path: Path
) -> None:
    built = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels, sign_key=key)
    dest = previous_outputs(tmp_path / "images", repo.spec.name)
    edit(built.manifest, {"user": "root", "group": "root"}, rename=False)  # units run as root

    run = nox_image(repo, tmp_path / "images", "--allowed-signers", str(signers_of(key)))

    assert run.returncode == 1, run.stdout + run.stderr
    said = run.stderr
    assert f"{built.manifest}: signature: not signed by a key of --allowed-signers {signers_of(key)}" in said
    assert f"nox -s bundle -- {repo.spec.name}" in said and "--allow-unsigned" in said
    assert_untouched(dest)


def test_an_unsigned_release_is_refused_unless_allowed_and_then_its_grammar_still_holds(
    repo: Repo, key: Path, tmp_path: Path
) -> None:
    built = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels, sign_key=key)
    dest = previous_outputs(tmp_path / "images", repo.spec.name)
    services = json.loads(built.manifest.read_text())["deploy"]["services"]
    services[0]["environment"] = {"MODE": "fast\nExecStartPre=+/bin/sh -c 'id > /tmp/pwned'"}
    edited = edit(built.manifest, {"services": services}, rename=True)
    built.manifest.with_name(built.manifest.name + ".sig").unlink()  # an unsigned release, as it now is

    signed_only = nox_image(repo, tmp_path / "images", "--allowed-signers", str(signers_of(key)))
    assert signed_only.returncode == 1
    assert f"{edited}: signature: not signed by a key" in signed_only.stderr
    assert "no signature came with it" in signed_only.stderr

    nothing_configured = nox_image(repo, tmp_path / "images")
    assert nothing_configured.returncode == 1
    assert f"{edited}: no allowed signers to verify release {edited.stem} against" in nothing_configured.stderr

    unsigned = nox_image(repo, tmp_path / "images", "--allow-unsigned")
    assert unsigned.returncode == 1
    said = unsigned.stderr
    assert f"{edited}: release {edited.stem}: deploy.services[0].environment.MODE is " in said
    assert "ExecStartPre=+" in said
    assert "no control character" in said and "rebuild the release" in said
    assert_untouched(dest)


def test_a_layer_archive_changed_after_the_release_was_built_is_refused(repo: Repo, key: Path, tmp_path: Path) -> None:
    built = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels, sign_key=key)
    dest = previous_outputs(tmp_path / "images", repo.spec.name)
    layer = next(la for la in built.layers if la.kind == "app")
    archive = repo.out / repo.spec.name / "layers" / f"{layer.hash}.tar.gz"
    archive.write_bytes(archive.read_bytes() + b"\0" * 512)

    run = nox_image(repo, tmp_path / "images", "--allowed-signers", str(signers_of(key)))

    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{archive} (app " in run.stderr and "layers[].archive_sha256" in run.stderr
    assert f"rebuild the bundle with `nox -s bundle -- {repo.spec.name}`" in run.stderr
    assert_untouched(dest)
    assert not [p for p in dest.parent.rglob(".*")], "the refused build left its staging behind"


def test_what_the_image_is_built_from_is_the_verified_copy(repo: Repo, key: Path, tmp_path: Path) -> None:
    built = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels, sign_key=key)
    body = built.manifest.read_bytes()
    signers = Signers(signers_of(key).read_bytes(), "the test's signers")
    trusted = trusted_release(repo.spec, None, repo.out, signers, allow_unsigned=False)
    assert (trusted.id, trusted.body, trusted.allow_unsigned) == (built.release, body, False)
    assert trusted.signature == built.manifest.with_name(built.manifest.name + ".sig").read_bytes()

    # Swapped after the check: the image is assembled from the copy that was checked, not from dist/.
    edit(built.manifest, {"user": "root"}, rename=False)
    staged = tmp_path / "staged"
    staged.mkdir()
    stage(trusted, repo.out, staged)
    assert (staged / "releases" / f"{built.release}.json").read_bytes() == body
    for layer in trusted.manifest["layers"]:
        copy = staged / "layers" / f"{layer['hash']}.tar.gz"
        assert copy.read_bytes() == (repo.out / repo.spec.name / layer["archive"]).read_bytes()

    with pytest.raises(PipelineError, match=r"--allow-unsigned with --allowed-signers: .* leave one of them out"):
        build_image(repo.spec, None, tmp_path / "out", bundles=repo.out, allowed_signers=signers_of(key),
                    allow_unsigned=True)  # fmt: skip
