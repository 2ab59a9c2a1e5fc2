"""`nox -s image` on simulated robots: robots flashed with a disk image come up healthy with no
deploy, each with its own identity, look file by file like a deployed robot, and a deploy then
moves them like any robot (changed=0 for the same release, only the changed layers for a newer).
The arm64 robot only boots to health: its deploy is test_deploy.py's."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploying import Run, bundle, copy_image, current_release, dump_units, playbook, wait_health, write_inventory
from horus_testing import require_robot_host

from horus_pipeline.image.build import ImageResult, build_image
from horus_pipeline.images import load_image
from horus_pipeline.sim.fleet import Sim
from horus_pipeline.sim.robot import Robot

IMAGE = "fleet-amd64"
FIGURES: dict[str, str] = {}


@dataclass
class Built:
    repo: Path
    bundles: Path
    release: str
    image: ImageResult


def build(tmp: Path, image: str) -> Built:
    """A bundle of `image` (a copy of the repository's) and the disk image of its release."""
    require_robot_host(load_image(image).target.arch.name)
    repo = tmp / "repo"
    copy_image(image, repo)
    release = bundle(repo, image, tmp / "bundles")
    spec = load_image(repo / "images" / f"{image}.toml")
    result = build_image(spec, release, tmp / "out", bundles=tmp / "bundles", allow_unsigned=True)  # as the sim
    FIGURES[f"{image} build"] = (
        f"{result.seconds}s, raw {result.raw_bytes >> 20} MiB, zst {result.compressed_bytes / 2**20:.1f} MiB, "
        f"sha256 {result.sha256}"
    )
    return Built(repo, tmp / "bundles", release, result)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("image"), IMAGE)


def boot_flashed(sim: Sim, image: str, disk: Path, count: int) -> list[Robot]:
    """`count` robots flashed with `disk`, healthy (health 200 asked on the robot) or the test fails."""
    start = time.monotonic()
    robots = sim.boot(load_image(image), count, disk=disk)
    for robot in robots:
        if wait_health(robot, timeout=120) != 200:
            print(dump_units(robot, load_image(image).app.name))
            pytest.fail(f"{robot.name}, flashed with {disk.name}, is not healthy without a deploy")
    FIGURES[f"{image} first boot to health 200"] = f"{time.monotonic() - start:.1f}s ({count} robot(s) at once)"
    return robots


@pytest.fixture(scope="module")
def flashed(sim: Sim, built: Built) -> Iterator[list[Robot]]:
    robots = boot_flashed(sim, IMAGE, built.image.raw, 2)
    try:
        yield robots
    finally:
        sim.stop(robots)


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    yield
    for what, figure in FIGURES.items():
        print(f"[image figures] {what}: {figure}")


def test_flashed_robots_run_the_release_with_no_deploy(flashed: list[Robot], built: Built) -> None:
    for robot in flashed:
        assert current_release(robot, "/opt/fleet") == built.release
        state = robot.ssh("systemctl is-active fleet-beat.service fleet.target", check=False).stdout.split()
        assert state == ["active", "active"], dump_units(robot, "fleet")
        assert robot.ssh("horus monitor --once", check=False).returncode == 0  # the operators' command


def test_two_robots_flashed_from_one_image_differ_where_they_must(flashed: list[Robot], built: Built) -> None:
    def identity(robot: Robot) -> tuple[str, str]:
        machine_id = robot.ssh("cat /etc/machine-id").stdout.strip()
        host_key = robot.ssh("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
        return machine_id, host_key

    first, second = (identity(r) for r in flashed)
    assert len(first[0]) == 32 and first[0] != second[0], "each robot makes its own machine id at first boot"
    assert first[1] != second[1], "each robot makes its own SSH host keys at first boot"
    listing = subprocess.run(["tar", "-tf", built.image.raw.with_suffix(".tar")], capture_output=True, text=True)
    assert "./etc/ssh/ssh_host_ed25519_key" not in listing.stdout.splitlines(), "no host key is baked in"


# What is not the robot's files: logs, Ansible's and sudo's traces, the robot's identity, systemd's
# per-boot state (services' private /var/tmp), and the root filesystem's own lost+found.
NOT_FILES = ("var/log/", "var/lib/systemd/", "var/lib/sudo/", "var/cache/", "var/tmp/", "tmp/", "run/")
NOT_FILES += ("root/.ansible/", "lost+found")
IDENTITY = ("etc/machine-id", "etc/hostname", "etc/hosts", "etc/ssh/ssh_host_")
# The image's own first-boot unit (a deployed robot got its host keys when it was set up).
FIRST_BOOT = ("etc/systemd/system/horus-ssh-host-keys.service", "etc/systemd/system/ssh.service.wants")
# Account databases: the same lines, but the order in which the accounts were added differs, and
# /etc/shadow's third field is the day an account was made (the image's: SOURCE_DATE_EPOCH).
ACCOUNTS = ("etc/passwd", "etc/group", "etc/shadow", "etc/gshadow")


def account_lines(rel: str, data: bytes) -> list[bytes]:
    rows = [line.split(b":") for line in data.splitlines()]
    if rel == "etc/shadow":
        rows = [[*row[:2], b"(day made)", *row[3:]] for row in rows]
    return sorted(b":".join(row) for row in rows)


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every file under a robot's disk: type, mode, owner and content (symlink target, sorted lines)."""
    found: dict[str, tuple[object, ...]] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top) / name
            rel = path.relative_to(root).as_posix()
            skip = NOT_FILES + IDENTITY + FIRST_BOOT
            if (
                rel.startswith(skip)
                or ".ansible" in rel.split("/")
                or (rel.rstrip("-") in ACCOUNTS and rel.endswith("-"))
            ):
                continue
            st = path.lstat()
            content: object = None
            if stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                data = path.read_bytes()
                content = account_lines(rel, data) if rel in ACCOUNTS else hashlib.sha256(data).hexdigest()
            found[rel] = (stat.filemode(st.st_mode), st.st_uid, st.st_gid, content)
    return found


@dataclass
class Beside:
    """One deploy of the image's release to a flashed robot and, in the same play, to a fresh robot."""

    run: Run
    fresh: str  # the fresh robot's name
    fresh_files: dict[str, tuple[object, ...]]


@pytest.fixture(scope="module")
def beside(flashed: list[Robot], built: Built, sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Beside:
    (fresh,) = sim.boot(load_image(IMAGE), 1)
    try:
        robots = [flashed[0], fresh]
        path = tmp_path_factory.mktemp("beside") / "inventory.yml"
        inventory = write_inventory(path, robots, horus_robot_bundles_dir=str(built.bundles))
        # Both robots in one batch: the flashed robot's no-op deploy costs no time of its own.
        run = playbook(inventory, robots, "-e", f"release={built.release}", "-e", '{"horus_rollout_batches": ["100%"]}')
        assert run.rc == 0, run.output[-3000:]
        return Beside(run, fresh.name, snapshot(fresh.root))
    finally:
        sim.stop([fresh])


def test_deploying_the_flashed_release_changes_nothing(flashed: list[Robot], beside: Beside) -> None:
    assert beside.run.changed(beside.fresh) > 0  # the same play installed the release on a fresh robot ...
    assert beside.run.changed(flashed[0].name) == 0  # ... and found the flashed robot as it leaves one


def test_a_flashed_robot_is_a_deployed_robot_file_by_file(flashed: list[Robot], beside: Beside) -> None:
    image, robot = snapshot(flashed[0].root), beside.fresh_files
    differ = sorted(p for p in image.keys() & robot.keys() if image[p] != robot[p])
    assert not differ, "\n".join(f"{p}: image {image[p]} / deployed {robot[p]}" for p in differ[:20])
    assert sorted(image.keys() - robot.keys()) == [], "only in the flashed robot"
    assert sorted(robot.keys() - image.keys()) == [], "only in the deployed robot"


def test_a_newer_release_sends_only_its_changed_layers(flashed: list[Robot], built: Built, tmp_path: Path) -> None:
    robot = flashed[1]
    beat = built.repo / "apps" / "fleet" / "beat.py"
    beat.write_text("# an app-only change\n" + beat.read_text())
    newer = bundle(built.repo, IMAGE, built.bundles)
    inventory = write_inventory(tmp_path / "inventory.yml", [robot], horus_robot_bundles_dir=str(built.bundles))
    run = playbook(inventory, [robot], "-e", f"release={newer}")
    assert run.rc == 0, run.output[-3000:]
    pushed = run.pushed()
    assert len(pushed) == 1 and pushed[0].startswith("app fleet "), pushed
    assert current_release(robot, "/opt/fleet") == newer and wait_health(robot) == 200


def test_two_builds_in_other_directories_are_byte_identical(built: Built, tmp_path: Path) -> None:
    again = build_image(
        load_image(built.repo / "images" / f"{IMAGE}.toml"),
        built.release,
        tmp_path / "elsewhere",
        bundles=built.bundles,
        allow_unsigned=True,
    )
    assert again.sha256 == built.image.sha256
    for suffix in (".img.zst", ".tar", ".sbom.json"):
        first, second = (r.raw.with_name(f"{r.release}{suffix}") for r in (built.image, again))
        assert first.read_bytes() == second.read_bytes(), f"{first.name} differs between two builds"
    FIGURES[f"{IMAGE} rebuild"] = f"{again.seconds}s, sha256 {again.sha256}"
    if shutil.which("diffoscope"):
        same = subprocess.run(["diffoscope", built.image.raw, again.raw], capture_output=True, text=True)
        assert same.returncode == 0, same.stdout[-3000:]


def test_the_sbom_lists_the_debian_packages_and_the_python_layers(built: Built) -> None:
    sbom = json.loads(built.image.raw.with_name(f"{built.release}.sbom.json").read_text())
    purls = {c["purl"].split("@")[0] for c in sbom["components"]}
    assert {"pkg:deb/debian/systemd", "pkg:deb/debian/openssh-server", "pkg:deb/debian/python3.11"} <= purls
    assert {"pkg:pypi/horus-core", "pkg:pypi/typing-extensions"} <= purls
    assert sbom["metadata"]["component"] == {
        "type": "operating-system", "name": IMAGE, "version": built.release, "bom-ref": IMAGE
    }  # fmt: skip


def test_an_arm64_robot_flashed_with_its_image_is_healthy(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> None:
    arm64 = build(tmp_path_factory.mktemp("image-arm64"), "fleet-arm64")
    robots = boot_flashed(sim, "fleet-arm64", arm64.image.raw, 1)
    try:
        assert current_release(robots[0], "/opt/fleet") == arm64.release
        assert robots[0].ssh("uname -m").stdout.strip() == "aarch64"
        assert loop_devices(arm64.image.raw), "the robot's disk is its image's root partition, loop-mounted"
    finally:
        sim.stop(robots)
    assert not loop_devices(arm64.image.raw) and not Path(robots[0].dir).exists(), "a stopped robot leaves nothing"


def loop_devices(disk: Path) -> str:
    return subprocess.run(["losetup", "-j", str(disk)], capture_output=True, text=True, check=True).stdout
