"""Layer deltas on simulated arm64 robots (issue 27): a pin bump of a package sends the robot that has
the package's previous layer a delta instead of the layer, the robot rebuilds the layer the signed
manifest names and passes its health gate; a robot without the old layer gets the layer whole; a
corrupt delta is refused on the robot and the layer sent whole instead.

Two aarch64 robots under qemu-user, an app that imports `bigpkg` (3 MB of data that a pin bump edits
in a few places, as a rebuilt library changes), served by a local index.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from deploying import Run, bundle, playbook, write_inventory
from horus_testing import require_robot_host
from pypi_testing import Index, Wheel, isolate_pip, require_lock_tools, write_repo

from horus_pipeline.bundle.release import read_manifest
from horus_pipeline.cache import cache_root
from horus_pipeline.images import load_image
from horus_pipeline.lock.compile import lock_images
from horus_pipeline.robot.assemble import INDEX_NAME
from horus_pipeline.robot.delta import delta_archive
from horus_pipeline.sim.robot import Robot

pytestmark = [pytest.mark.e2e]

IMAGE = "fake-arm64"
APP = """\
import horus
import bigpkg


def tick(node):
    node.send("fake.beat", {"version": bigpkg.VERSION})


sched = horus.Scheduler(tick_rate=100, name="main")
sched.add(horus.Node(name="beat", tick=tick, rate=10, pubs=["fake.beat"]))
horus.serve_health(sched)
sched.run()
"""
DATA = base64.b64encode(random.Random(27).randbytes(2_400_000)).decode()  # 3.2 MB that gzip cannot shrink much


def bigpkg(version: str) -> Wheel:
    """Each version edits DATA in a few places of its own, the rest as the version before it."""
    data = DATA
    for n in range(int(version.split(".")[1])):
        at = (n + 1) * 700_000
        data = data[:at] + f"an edit of version 1.{n + 1}\n" * 200 + data[at + 5_000 :]
    files = {"bigpkg/__init__.py": f"VERSION = {version!r}\n", "bigpkg/data.txt": data}
    return Wheel("bigpkg", version, files=files)


class Releases:
    """The fake app's repository, its index, and release after release of it (a pin bump each)."""

    def __init__(self, root: Path, index: Index) -> None:
        self.index = index
        self.root = root
        self.spec_path = write_repo(root, IMAGE, "aarch64", deps={"bigpkg": ">=1"}, app_files={"main.py": APP})
        self.out = root / "dist" / "bundles"

    def release(self, version: str) -> str:
        """Put bigpkg `version` on the index, lock the image to it, and bundle it: the release id."""
        self.index.add(bigpkg(version))
        lock_images([load_image(self.spec_path)], upgrade=True)
        assert f"bigpkg=={version}" in load_image(self.spec_path).lockfile.read_text()
        return bundle(self.root, IMAGE, self.out)

    def layer(self, rid: str, name: str) -> dict:
        manifest = read_manifest(self.out / IMAGE / "releases" / f"{rid}.json")
        (found,) = [la for la in manifest["layers"] if la["name"] == name]
        return dict(found)


@pytest.fixture
def releases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Releases:
    require_robot_host("aarch64")
    require_lock_tools()
    rootfs = cache_root() / "rootfs"  # built once per machine (minutes for arm64): shared, as by the other e2e tests
    index = Index(tmp_path / "index")
    isolate_pip(monkeypatch, index, tmp_path)
    (tmp_path / "horus-cache").mkdir()
    (tmp_path / "horus-cache" / "rootfs").symlink_to(rootfs)
    return Releases(tmp_path / "repo", index)


def sent_line(run: Run, robot: Robot, rid: str) -> tuple[float, float | None]:
    """(MiB sent, MiB without deltas or None when no delta was sent) from the rollout summary's line."""
    text = " ".join(run.output.split())
    pattern = rf"{robot.name} updated now on release {rid}; sent ([0-9.]+) MiB(?: \(([0-9.]+) MiB without deltas\))?"
    found = re.search(pattern, text)
    assert found, f"no summary line for {robot.name} on {rid}:\n{run.output[-3000:]}"
    return float(found.group(1)), float(found.group(2)) if found.group(2) else None


def confirmed(robot: Robot, releases: Releases, rid: str, layer: dict) -> None:
    """The robot has confirmed release `rid` (its health gate passed), with the layer the manifest names."""
    lay = load_image(releases.spec_path).layout
    index = robot.ssh(f"sha256sum {lay.layer(layer['hash'])}/{INDEX_NAME}").stdout.split()[0]
    assert index == layer["index_sha256"]
    healthy = robot.ssh(f"cat {lay.marker('healthy')}").stdout.strip()
    assert healthy == rid, f"{robot.name} confirmed {healthy}, not {rid}"


def test_a_pin_bump_sends_a_delta_to_the_robot_with_the_old_layer_and_the_layer_to_the_one_without(
    releases: Releases, boot_robots: Callable[..., list[Robot]], tmp_path: Path
) -> None:
    first = releases.release("1.0")
    old, fresh = boot_robots(str(releases.spec_path), 2)
    inventory = write_inventory(tmp_path / "inventory.yml", [old, fresh], horus_robot_bundles_dir=str(releases.out))
    run = playbook(inventory, [old], "-e", f"release={first}", "--limit", old.name)
    assert run.rc == 0, run.output[-3000:]

    second = releases.release("1.1")
    layer = releases.layer(second, "bigpkg")
    assert layer["delta"]["from"] == releases.layer(first, "bigpkg")["hash"]
    assert layer["delta"]["size"] < layer["archive_size"] / 4, layer

    run = playbook(inventory, [old, fresh], "-e", f"release={second}")
    assert run.rc == 0, run.output[-3000:]
    # The robot with bigpkg 1.0 is sent the delta: on the wire, less than the layer alone would be.
    sent, whole = sent_line(run, old, second)
    assert whole is not None and sent < whole / 2, (sent, whole)
    assert run.sent[old.name] < layer["archive_size"], run.sent
    assert "a delta of the layer of" in run.output
    confirmed(old, releases, second, layer)
    # The new robot has no bigpkg layer to patch: it gets every layer whole.
    sent, whole = sent_line(run, fresh, second)
    assert whole is None and sent * 1048576 > layer["archive_size"]
    confirmed(fresh, releases, second, layer)

    third = releases.release("1.2")
    layer = releases.layer(third, "bigpkg")
    corrupt = releases.out / IMAGE / delta_archive(layer["delta"]["from"], layer["hash"])
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the size the manifest names, other bytes
    corrupt.unlink()  # a hard link to the build's cache: break it, not the cached delta
    corrupt.write_bytes(bytes(data))
    run = playbook(inventory, [old], "-e", f"release={third}", "--limit", old.name)
    assert run.rc == 0, run.output[-3000:]
    assert "the delta of package bigpkg 1.2 was refused" in run.output and layer["delta"]["sha256"] in run.output
    sent, whole = sent_line(run, old, third)
    assert whole is not None and sent > whole, (sent, whole)  # the delta, then the layer whole
    assert run.sent[old.name] > layer["archive_size"], run.sent
    confirmed(old, releases, third, layer)
