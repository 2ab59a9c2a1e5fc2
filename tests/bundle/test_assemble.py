"""The robot's assembly tool, run as the robot runs it: this host's system python3, standard library only."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from bundle_testing import Repo
from horus_testing import require

from horus_pipeline.bundle.build import BundleResult, build_bundle
from horus_pipeline.robot import assemble

SYSTEM_PYTHON = "/usr/bin/python3.11"


def tool(result: BundleResult, dest: Path) -> Path:
    """The release's assemble.py, taken out of its tool layer as a deploy would (tar, no pipeline), with the
    robot contract it imports beside it."""
    manifest = json.loads(result.manifest.read_text())
    (layer,) = [la for la in manifest["layers"] if la["kind"] == "tool"]
    with tarfile.open(result.manifest.parent.parent / layer["archive"]) as tar:
        dest.write_bytes(tar.extractfile("assemble.py").read())  # type: ignore[union-attr]
        dest.with_name("contract.py").write_bytes(tar.extractfile("contract.py").read())  # type: ignore[union-attr]
    return dest


def run_tool(script: Path, *args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    # -I -S: no site-packages, no user site, no PYTHON* variables: the standard library only.
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", str(script), *map(str, args)], capture_output=True, text=True, env={}
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def snapshot(layers: Path) -> dict[str, tuple[int, str]]:
    return {
        p.relative_to(layers).as_posix(): (p.stat().st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(layers.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def built(repo: Repo, tmp_path: Path) -> tuple[BundleResult, Path, Path]:
    require(Path(SYSTEM_PYTHON).exists(), f"{SYSTEM_PYTHON} (a Debian 12 robot's Python) is not on this host")
    result = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    root = tmp_path / "robot" / "opt" / "fake"
    script = tool(result, tmp_path / "assemble.py")
    archives = sorted((repo.out / "fake-x86_64" / "layers").glob("*.tar.gz"))
    run_tool(script, "unpack", "--root", root, "--manifest", result.manifest, *archives)
    return result, root, script


def test_assembly_links_layers_into_a_venv_that_runs(built: tuple[BundleResult, Path, Path]) -> None:
    result, root, script = built
    before = snapshot(root / "layers")
    out = run_tool(script, "assemble", "--root", root, result.manifest).stdout
    assert f"release {result.release} assembled" in out
    release = root / "releases" / result.release
    venv = release / "venv"
    site = venv / "lib/python3.11/site-packages"
    # Hard links to the layers, not copies.
    (pkg,) = [la for la in result.layers if la.name == "fakenum"]
    layer_file = root / "layers" / pkg.hash / "lib/python3.11/site-packages/fakenum/__init__.py"
    assert os.path.samestat((site / "fakenum/__init__.py").stat(), layer_file.stat())
    assert (venv / "pyvenv.cfg").read_text().startswith("home = /usr/bin\ninclude-system-site-packages = false\n")
    assert os.readlink(venv / "bin/python") == SYSTEM_PYTHON
    assert (release / "app").resolve() == (root / "layers" / next(la.hash for la in result.layers if la.kind == "app"))
    assert (release / "assemble.py").is_file() and (release / "MANIFEST.json").is_file()
    # The tool imports the contract beside it and leaves no bytecode there (a layer holds its index's files only).
    assert not (script.parent / "__pycache__").exists()
    verified = run_tool(release / "assemble.py", "verify", "--root", root, result.release).stdout
    assert "files verified" in verified and not (release / "__pycache__").exists()
    # Console scripts name this release's python; the wheel's own script finds the venv's python.
    cli = venv / "bin/fakenum-cli"
    assert cli.read_text().splitlines()[0] == f"#!{release}/venv/bin/python"
    assert subprocess.run([cli], capture_output=True, text=True, check=True).stdout == "fakenum 1.0\n"
    tool_out = subprocess.run([venv / "bin/fakeext-tool"], capture_output=True, text=True, check=True).stdout
    assert tool_out == "tool fakeext\n"
    app = subprocess.run([venv / "bin/python", release / "app/main.py"], capture_output=True, text=True, check=True)
    assert app.stdout == "robot 1.0\n"
    # The layers are untouched (content and modes), and running again only verifies.
    assert snapshot(root / "layers") == before
    again = run_tool(script, "assemble", "--root", root, result.manifest).stdout
    assert "already assembled" in again
    assert f"{result.release}:" in run_tool(script, "verify", "--root", root, result.release).stdout


def test_a_modified_layer_fails_assembly_and_leaves_nothing_that_looks_finished(
    built: tuple[BundleResult, Path, Path],
) -> None:
    result, root, script = built
    (pkg,) = [la for la in result.layers if la.name == "fakenum"]
    victim = root / "layers" / pkg.hash / "lib/python3.11/site-packages/fakenum/__init__.py"
    victim.write_text("print('tampered')\n")
    proc = run_tool(script, "assemble", "--root", root, result.manifest, ok=False)
    assert proc.returncode == 1
    assert "fakenum/__init__.py" in proc.stderr and "sha256" in proc.stderr
    assert os.listdir(root / "releases") == []


def test_a_missing_layer_or_a_corrupt_archive_is_refused(
    built: tuple[BundleResult, Path, Path], tmp_path: Path
) -> None:
    result, root, script = built
    app = next(la for la in result.layers if la.kind == "app")
    os.rename(root / "layers" / app.hash, tmp_path / "aside")
    proc = run_tool(script, "assemble", "--root", root, result.manifest, ok=False)
    assert "is not unpacked" in proc.stderr and "assemble.py unpack" in proc.stderr
    assert os.listdir(root / "releases") == []
    bad = tmp_path / f"{app.hash}.tar.gz"
    bad.write_bytes(app.archive.read_bytes()[:-10] + b"0123456789")
    proc = run_tool(script, "unpack", "--root", root, "--manifest", result.manifest, bad, ok=False)
    assert "corrupt or tampered" in proc.stderr
    assert not (root / "layers" / app.hash).exists()


def test_a_release_for_another_cpu_is_refused(built: tuple[BundleResult, Path, Path], tmp_path: Path) -> None:
    result, root, script = built
    manifest = json.loads(result.manifest.read_text())
    manifest["target"]["arch"] = "aarch64"
    from horus_pipeline.robot.assemble import release_id

    manifest["id"] = release_id(manifest)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(manifest))
    proc = run_tool(script, "assemble", "--root", root, other, ok=False)
    assert "is for aarch64, this robot is x86_64" in proc.stderr


def test_layers_checked_before_are_verified_by_identity_not_hashed_again(
    built: tuple[BundleResult, Path, Path],
) -> None:
    """A deploy trusts the layers it unpacked from archives of the signed sha256 moments ago, and those the
    running release shares (checked when it was assembled): each of their files in the release must be the
    layer's own file. The others are hashed."""
    result, root, _ = built
    manifest = assemble.load_manifest(str(result.manifest))
    everything = {layer["hash"] for layer in manifest["layers"]}
    release = Path(assemble.assemble_release(str(root), manifest, trusted=everything))
    (pkg,) = [la for la in result.layers if la.name == "fakenum"]
    in_release = release / "venv/lib/python3.11/site-packages/fakenum/__init__.py"
    # The layer's own file changed in place (only root could): trusted, it is not read again...
    layer_file = root / "layers" / pkg.hash / "lib/python3.11/site-packages/fakenum/__init__.py"
    original = layer_file.read_bytes()
    layer_file.write_bytes(b"print('changed by root')\n")
    assert assemble.verify_release(str(root), manifest, str(release), trusted=everything) > 0
    # ...untrusted, it is hashed and refused.
    with pytest.raises(assemble.AssemblyError, match=r"fakenum/__init__\.py has sha256"):
        assemble.verify_release(str(root), manifest, str(release))
    layer_file.write_bytes(original)
    # A file of the release that is not the layer's own is refused even for a trusted layer.
    in_release.unlink()
    in_release.write_bytes(original)
    with pytest.raises(assemble.AssemblyError, match=r"fakenum/__init__\.py is not its layer's file"):
        assemble.verify_release(str(root), manifest, str(release), trusted=everything)
