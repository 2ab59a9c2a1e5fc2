"""`ansible/deploy.yml` on light robots (images/fleet-amd64.toml: one node process, no torch).

One robot for the module goes through a deploy's life: refused bundles (corrupt, wrong CPU,
unsigned) leave it untouched; a signed release installs; a second run changes nothing; an
app-only change; a release that crashes at start is rolled back; Ansible killed mid-deploy;
a rollback by hand. Then a fleet of three with a broken canary stops after the first batch, a
rollout policy over five, an unreachable robot, and Prometheus scraping three robots' metrics gateways.
"""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploying import (
    Run,
    bundle,
    copy_image,
    current_release,
    dump_units,
    health,
    playbook,
    wait_health,
    write_inventory,
)
from horus_testing import require, require_host_packages
from prometheus_testing import running_prometheus

from horus_pipeline.bundle.keyring import write_keyring
from horus_pipeline.images import load_image
from horus_pipeline.lock.compile import lock_inputs
from horus_pipeline.robot.assemble import release_id
from horus_pipeline.sim.fleet import Sim
from horus_pipeline.sim.prereqs import MONITORING_PACKAGES
from horus_pipeline.sim.robot import Robot

pytestmark = pytest.mark.e2e

IMAGE = "fleet-amd64"
PREFIX = "/opt/fleet"
CRASH = 'raise SystemExit("fleet: crashing at start on purpose")\n'
SERIAL = 1000  # of every release here but `older`
FIGURES: dict[str, tuple[float, int]] = {}  # case -> (seconds, bytes sent), printed at the end


@dataclass
class Bundles:
    out: Path  # every release signed with `key`
    good: str
    app_change: str
    bump: str  # app_change with one package at another version
    crash: str
    older: str  # app_change with a lower serial than every other release
    wrong_arch_out: Path
    allowed_signers: Path  # names `key`: what the robot is provisioned with
    key: Path
    tmp: Path

    def new_key(self, name: str) -> tuple[Path, Path]:
        """Another release key and an allowed-signers file naming it."""
        key = self.tmp / name
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key], check=True)
        signers = self.tmp / f"{name}.allowed_signers"
        signers.write_text(
            f'horus-release namespaces="horus-release,horus-keyring" {key.with_suffix(".pub").read_text()}'
        )
        return key, signers

    def resigned(self, release: str, key: Path, where: Path) -> Path:
        """A copy of the bundles whose `release` is signed with `key` instead."""
        shutil.copytree(self.out, where)
        manifest = where / IMAGE / "releases" / f"{release}.json"
        manifest.with_name(manifest.name + ".sig").unlink()
        subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", "horus-release", manifest], check=True)
        return where


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    """Releases of the fleet image built by the pipeline: good (signed), app-only change, crashing."""
    tmp = tmp_path_factory.mktemp("fleet-bundles")
    key = tmp / "release_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release", "-f", key], check=True)
    signers = tmp / "allowed_signers"
    signers.write_text(f'horus-release namespaces="horus-release,horus-keyring" {key.with_suffix(".pub").read_text()}')
    repo = tmp / "repo"
    app = copy_image(IMAGE, repo)
    out = tmp / "bundles"
    crash = bundle_with(repo, app, "beat.py", CRASH, out, key)
    older = bundle_with(repo, app, "beat.py", "# an app-only change\n", out, key, serial=SERIAL - 1)
    app_change = bundle_with(repo, app, "beat.py", "# an app-only change\n", out, key)
    lockfile = repo / "lockfiles" / f"{IMAGE}.txt"
    pinned = lockfile.read_text()
    lockfile.write_text(
        pinned.replace("typing-extensions==4.16.0", "typing-extensions==4.15.0").replace(
            "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
            "f0fa19c6845758ab08074a0cfa8b7aecb71c999ca73d62883bc25cc018c4e548",  # typing_extensions 4.15.0 wheel
        )
    )
    bump = bundle(repo, IMAGE, out, sign_key=key, serial=SERIAL)
    lockfile.write_text(pinned)
    (app / "beat.py").write_text((load_image(IMAGE).app / "beat.py").read_text())
    good = bundle(repo, IMAGE, out, sign_key=key, serial=SERIAL)
    # The same app for aarch64: a bundle a x86_64 robot must refuse before touching anything.
    arm_spec = repo / "images" / "fleet-arm64.toml"
    arm_spec.write_text((repo / "images" / f"{IMAGE}.toml").read_text().replace('"x86_64"', '"aarch64"'))
    lock = (repo / "lockfiles" / f"{IMAGE}.txt").read_text().splitlines()
    spec = load_image(arm_spec)
    header = [
        f"# horus-lock: image = {spec.name}",
        f"# horus-lock: target = {spec.target.describe()}",
        f"# horus-lock: inputs = {lock_inputs(spec).digest()}",
    ]
    (repo / "lockfiles" / "fleet-arm64.txt").write_text("\n".join(header + lock[3:]) + "\n")
    wrong = tmp / "wrong-arch"
    bundle(repo, "fleet-arm64", wrong)
    return Bundles(out, good, app_change, bump, crash, older, wrong, signers, key, tmp)


def bundle_with(repo: Path, app: Path, script: str, prepend: str, out: Path, key: Path, serial: int = SERIAL) -> str:
    original = (load_image(IMAGE).app / script).read_text()
    (app / script).write_text(prepend + original)
    return bundle(repo, IMAGE, out, sign_key=key, serial=serial)


@pytest.fixture(scope="module")
def robot(sim: Sim) -> Iterator[Robot]:
    (r,) = sim.boot(load_image(IMAGE), 1)
    try:
        yield r
    finally:
        sim.stop([r])


@pytest.fixture(scope="module")
def inventory(robot: Robot, bundles: Bundles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fleet-inventory") / "inventory.yml"
    return write_inventory(
        path, [robot], horus_robot_bundles_dir=str(bundles.out), horus_robot_health_timeout=30,
        horus_robot_params={"max_speed": 0.25},  # this robot differs from the image's 0.5
    )  # fmt: skip


@pytest.fixture(autouse=True)
def units_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failed test's output ends with the state and journal of the robot's units."""
    yield
    report = getattr(request.node, "_report_call", None)
    if report is not None and report.failed and "robot" in request.fixturenames:
        print(dump_units(request.getfixturevalue("robot"), "fleet"))


def deploy(inventory: Path, robot: Robot, *args: str, **kw: object) -> Run:
    run = playbook(inventory, [robot], *args, **kw)  # type: ignore[arg-type]
    if run.rc != 0 and "expect_fail" not in args:
        print(dump_units(robot, "fleet"))
    return run


def words(text: str) -> str:
    """Text with every run of whitespace one space (Ansible folds long messages)."""
    return " ".join(text.split())


def untouched(robot: Robot) -> bool:
    return robot.ssh(f"test -e {PREFIX} || test -e /etc/systemd/system/fleet.target", check=False).returncode != 0


def test_corrupt_bundle_refused_before_anything_changes(robot: Robot, inventory: Path, bundles: Bundles,
                                                         tmp_path: Path) -> None:  # fmt: skip
    corrupt = tmp_path / "bundles"
    shutil.copytree(bundles.out, corrupt)
    manifest = (corrupt / IMAGE / "releases" / f"{bundles.good}.json").read_text()
    app_layer = next(line for line in manifest.splitlines() if '"archive": "layers/' in line)
    archive = corrupt / IMAGE / app_layer.split('"')[3]
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    run = deploy(inventory, robot, "-e", f"horus_robot_bundles_dir={corrupt}", "-e", f"release={bundles.good}")
    assert run.rc != 0 and run.failed(robot.name) == 1
    assert "is corrupt: sha256" in words(run.output)
    assert untouched(robot)


def test_wrong_arch_refused_before_anything_changes(robot: Robot, inventory: Path, bundles: Bundles) -> None:
    wrong = ("-e", f"horus_robot_bundles_dir={bundles.wrong_arch_out}", "-e", "horus_robot_image=fleet-arm64")
    run = deploy(inventory, robot, *wrong)
    assert run.rc != 0 and run.failed(robot.name) == 1
    assert "needs systemd, aarch64 and Python 3.11" in words(run.output)
    assert untouched(robot)


def test_unsigned_release_refused_by_default(robot: Robot, inventory: Path, bundles: Bundles) -> None:
    """A robot without a trust anchor takes nothing unless the inventory says it is a lab robot."""
    run = deploy(inventory, robot, "-e", "horus_robot_allow_unsigned=false", "-e", f"release={bundles.good}")
    assert run.rc != 0 and run.failed(robot.name) == 1
    assert "robots obey only signed releases" in words(run.output)
    assert untouched(robot)


def test_unsigned_release_refused_once_the_robot_has_a_trust_anchor(
    robot: Robot, inventory: Path, bundles: Bundles, tmp_path: Path
) -> None:
    """Provisioning installs the robot's own trust anchor; from then on the robot wants a signature,
    whatever the inventory allows."""
    unsigned = tmp_path / "bundles"
    shutil.copytree(bundles.out, unsigned)
    (unsigned / IMAGE / "releases" / f"{bundles.good}.json.sig").unlink()
    trust = ("-e", f"horus_robot_allowed_signers={bundles.allowed_signers}", "-e", "horus_robot_bootstrap_trust=true")
    run = deploy(inventory, robot, *trust, "-e", f"horus_robot_bundles_dir={unsigned}", "-e", f"release={bundles.good}")
    assert run.rc != 0 and run.failed(robot.name) == 1
    assert "is not signed by a key this robot trusts" in words(run.output)
    assert untouched(robot)
    assert robot.ssh("cat /etc/horus/trust/allowed_signers").stdout == bundles.allowed_signers.read_text()


def test_check_mode_on_a_fresh_robot_changes_nothing(robot: Robot, inventory: Path, bundles: Bundles) -> None:
    run = deploy(inventory, robot, "--check", "--diff", "-e", f"release={bundles.good}")
    assert run.rc == 0 and run.changed(robot.name) > 0  # what a deploy would do ...
    assert untouched(robot)  # ... and nothing done
    assert robot.ssh("id horus", check=False).returncode != 0


def test_signed_release_installs_and_serves(robot: Robot, inventory: Path, bundles: Bundles) -> None:
    trust = ("-e", f"horus_robot_allowed_signers={bundles.allowed_signers}", "-e", "horus_robot_bootstrap_trust=true")
    run = deploy(inventory, robot, *trust, "-e", f"release={bundles.good}")
    FIGURES["fresh"] = (run.seconds, run.sent[robot.name])
    assert run.rc == 0, run.output[-3000:]
    assert current_release(robot, PREFIX) == bundles.good
    assert health(robot) == 200
    user = robot.ssh("ps -o user= -p $(systemctl show -P MainPID fleet-beat.service)").stdout.strip()
    assert user == "horus"
    # The robot's parameters: the image's, with the inventory's value for this robot, as nodes read them.
    params = robot.ssh(
        f"cd {PREFIX}/current/app && runuser -u horus -- env HORUS_PARAMS_FILE=/etc/horus/fleet.params.json "
        f'{PREFIX}/current/venv/bin/python -c \'import horus; p = horus.Params(); print(p["max_speed"], p["site"])\''
    )
    assert params.stdout.split() == ["0.25", "lab"]
    # The nodes' namespace is made by systemd-tmpfiles for the service user, also at every boot.
    assert robot.ssh("stat -c '%U %a' /dev/shm/horus.fleet").stdout.split() == ["horus", "700"]


def test_a_release_signed_by_a_key_the_robot_does_not_trust_is_refused(
    robot: Robot, inventory: Path, bundles: Bundles, tmp_path: Path
) -> None:
    """The controller's allowed-signers file names the signing key, the robot's own anchor does not: the
    robot refuses, and its anchor stays (a deploy never overwrites it)."""
    running = current_release(robot, PREFIX)
    other_key, other_signers = bundles.new_key("other")
    out = bundles.resigned(bundles.app_change, other_key, tmp_path / "bundles")
    trust = ("-e", f"horus_robot_allowed_signers={other_signers}", "-e", "horus_robot_bootstrap_trust=true")
    run = deploy(
        inventory, robot, *trust, "-e", f"horus_robot_bundles_dir={out}", "-e", f"release={bundles.app_change}"
    )
    assert run.rc != 0 and run.failed(robot.name) == 1
    assert "is not signed by a key this robot trusts" in words(run.output)
    assert current_release(robot, PREFIX) == running
    assert robot.ssh(f"test -e {PREFIX}/releases/{bundles.app_change}", check=False).returncode != 0
    assert robot.ssh("cat /etc/horus/trust/allowed_signers").stdout == bundles.allowed_signers.read_text()


def test_second_run_and_check_mode_change_nothing(robot: Robot, inventory: Path, bundles: Bundles) -> None:
    run = deploy(inventory, robot, "-e", f"release={bundles.good}")
    FIGURES["no-op"] = (run.seconds, run.sent[robot.name])
    assert run.rc == 0 and run.changed(robot.name) == 0
    pid = robot.ssh("systemctl show -P MainPID fleet-beat.service").stdout.strip()
    check = deploy(inventory, robot, "--check", "--diff", "-e", f"release={bundles.app_change}")
    assert check.rc == 0 and check.changed(robot.name) > 0  # it says what would change ...
    assert current_release(robot, PREFIX) == bundles.good  # ... and changes nothing
    assert robot.ssh(f"test -e {PREFIX}/releases/{bundles.app_change}", check=False).returncode != 0
    assert robot.ssh("systemctl show -P MainPID fleet-beat.service").stdout.strip() == pid


def test_app_only_change_sends_the_app_layer(robot: Robot, inventory: Path, bundles: Bundles) -> None:
    run = deploy(inventory, robot, "-e", f"release={bundles.app_change}")
    FIGURES["app-only change"] = (run.seconds, run.sent[robot.name])
    assert run.rc == 0
    pushed = run.pushed()
    assert len(pushed) == 1 and pushed[0].startswith("app fleet 0.1.0 "), pushed
    assert current_release(robot, PREFIX) == bundles.app_change and health(robot) == 200


def test_one_package_bump_sends_that_package(robot: Robot, inventory: Path, bundles: Bundles) -> None:
    run = deploy(inventory, robot, "-e", f"release={bundles.bump}")
    FIGURES["one-package bump"] = (run.seconds, run.sent[robot.name])
    assert run.rc == 0
    pushed = run.pushed()
    packages = [layer for layer in pushed if not layer.startswith("sbom ")]  # the SBOM names the new version
    assert len(packages) == 1 and packages[0].startswith("package typing-extensions 4.15.0 "), pushed
    assert current_release(robot, PREFIX) == bundles.bump and health(robot) == 200


# A failed robot is rescued twice: by its health gate (the revert), then by the rollout (recorded).
def test_release_crashing_at_start_is_rolled_back(robot: Robot, inventory: Path, bundles: Bundles) -> None:
    run = deploy(inventory, robot, "-e", f"release={bundles.crash}")
    assert run.rc != 0 and run.failed(robot.name) == 1 and run.recap[robot.name]["rescued"] == 2
    assert f"Release {bundles.crash} of {IMAGE} did not become healthy" in run.output
    message = run.output.split("fail with what the new release said")[1]
    assert "crashing at start on purpose" in message  # the new release's journal
    assert f"Rolled back to {bundles.bump}, which answers 200" in words(run.output)
    assert current_release(robot, PREFIX) == bundles.bump
    assert health(robot) == 200


def test_older_release_refused_as_a_downgrade(robot: Robot, inventory: Path, bundles: Bundles) -> None:
    running = current_release(robot, PREFIX)
    run = deploy(inventory, robot, "-e", f"release={bundles.older}")
    assert run.rc != 0 and run.failed(robot.name) == 1
    assert f"has serial {SERIAL - 1}, older than serial {SERIAL}" in words(run.output)
    assert current_release(robot, PREFIX) == running
    assert robot.ssh(f"test -e {PREFIX}/releases/{bundles.older}", check=False).returncode != 0


def test_a_manifest_swapped_during_a_deploy_changes_nothing(
    robot: Robot, inventory: Path, bundles: Bundles, tmp_path: Path
) -> None:
    """The robot installs the bytes it verified, read once by the play: a manifest file swapped in the
    bundle once the robot's step started (user root, an environment of its own, its id recomputed)
    reaches no unit and no file."""
    out = tmp_path / "bundles"
    shutil.copytree(bundles.out, out)
    path = out / IMAGE / "releases" / f"{bundles.app_change}.json"

    def swap() -> None:
        manifest = json.loads(path.read_text())
        manifest["deploy"]["user"] = "root"
        manifest["deploy"]["services"][0]["environment"] = {"SWAPPED": "yes"}
        manifest["id"] = release_id(manifest)
        path.write_text(json.dumps(manifest, sort_keys=True, indent=1) + "\n")

    at = ("verify the release on the robot", swap)
    run = deploy(inventory, robot, "-e", f"horus_robot_bundles_dir={out}", "-e", f"release={bundles.app_change}", at=at)
    assert run.rc == 0, run.output[-3000:]
    assert json.loads(path.read_text())["deploy"]["user"] == "root"  # the swap happened during the play
    assert current_release(robot, PREFIX) == bundles.app_change and health(robot) == 200
    unit = robot.ssh("cat /etc/systemd/system/fleet-beat.service").stdout
    assert "User=horus" in unit.splitlines() and "User=root" not in unit
    assert "SWAPPED" not in robot.ssh("cat /etc/horus/fleet/beat.env").stdout
    installed = json.loads(robot.ssh(f"cat {PREFIX}/releases/{bundles.app_change}/MANIFEST.json").stdout)
    assert installed["deploy"]["user"] == "horus"


def test_killed_deploy_then_reboot_comes_back_on_the_confirmed_release(
    sim: Sim, robot: Robot, inventory: Path, bundles: Bundles
) -> None:
    confirmed = current_release(robot, PREFIX)
    killed = deploy(inventory, robot, "-e", f"release={bundles.crash}", kill_at="wait for the health endpoint")
    assert killed.rc != 0
    assert current_release(robot, PREFIX) == bundles.crash  # switched, never confirmed
    pending = robot.ssh("systemctl is-active horus-release-guard-fleet-pending.timer", check=False)
    assert pending.stdout.strip() == "active"  # without a reboot, the timer would take it back
    sim.reboot(robot)
    assert current_release(robot, PREFIX) == confirmed
    assert wait_health(robot) == 200
    guard = robot.ssh("journalctl -b -u horus-release-guard-fleet --no-pager").stdout
    assert f"release {bundles.crash} was never confirmed: back on confirmed release {confirmed}" in guard


@pytest.mark.parametrize("kill_at", ["verify and unpack the layers", "wait for the health endpoint"])
def test_ansible_killed_mid_deploy(robot: Robot, inventory: Path, bundles: Bundles, kill_at: str) -> None:
    running = current_release(robot, PREFIX)
    target = bundles.good if running != bundles.good else bundles.app_change
    if kill_at.startswith("verify"):  # make it push and unpack the target's own layers again
        forget = (
            "import json, os, shutil, sys\n"
            "prefix, target, running = sys.argv[1:]\n"
            "path = f'{prefix}/releases/{target}'\n"
            "if os.path.isdir(path):\n"
            "    def hashes(rid):\n"
            "        manifest = json.load(open(f'{prefix}/releases/{rid}/MANIFEST.json'))\n"
            "        return {la['hash'] for la in manifest['layers']}\n"
            "    for h in hashes(target) - hashes(running):\n"
            "        shutil.rmtree(f'{prefix}/layers/{h}')\n"
            "    shutil.rmtree(path)\n"
        )
        robot.ssh(["python3", "-c", forget, PREFIX, target, running])
    # At the health wait, at once: a healthy release is confirmed and the play over within a second.
    after = 0.0 if kill_at.startswith("wait") else 1.0
    killed = deploy(inventory, robot, "-e", f"release={target}", kill_at=kill_at, kill_after=after)
    assert killed.rc != 0
    # The robot is on a complete release: whichever `current` names verifies file by file.
    now = current_release(robot, PREFIX)
    assert now in (running, target)
    verify = f"python3 {PREFIX}/releases/{now}/assemble.py verify --root {PREFIX} {now}"
    assert robot.ssh(verify, check=False).returncode == 0
    run = deploy(inventory, robot, "-e", f"release={target}")
    assert run.rc == 0, run.output[-3000:]
    assert current_release(robot, PREFIX) == target and wait_health(robot) == 200


def test_a_failed_redeploy_of_the_confirmed_release_keeps_it(robot: Robot, inventory: Path) -> None:
    """Another program holds the health port when the confirmed release is deployed again with new
    parameters: the gate fails, and the robot stays on its confirmed release with its old parameters."""
    confirmed = current_release(robot, PREFIX)
    params = robot.ssh("cat /etc/horus/fleet.params.json").stdout
    # Restarted until it has the port: under load the stopped node's socket was seen to linger.
    squat = "systemd-run --unit=squatter -p Restart=always -p RestartSec=1 python3 -m http.server 8080 --bind 127.0.0.1"
    robot.ssh(f"systemctl stop fleet.target && {squat}")
    try:
        wait_for(  # it answers 404 there
            lambda: health(robot) == 404,
            "the other program on the health port",
            explain=lambda: robot.ssh("systemctl status squatter fleet-beat; ss -ltnp", check=False).stdout,
        )
        new_params = '{"horus_robot_params": {"max_speed": 0.1}, "horus_robot_health_timeout": 10}'
        run = deploy(inventory, robot, "-e", f"release={confirmed}", "-e", new_params)
        assert run.rc != 0 and run.failed(robot.name) == 1 and run.recap[robot.name]["rescued"] == 2
        assert f"Release {confirmed} of {IMAGE} did not become healthy" in run.output
        assert current_release(robot, PREFIX) == confirmed
        assert robot.ssh("cat /etc/horus/fleet.params.json").stdout == params
    finally:
        robot.ssh("systemctl stop squatter; systemctl reset-failed squatter", check=False)  # gone once stopped
        robot.ssh("systemctl reset-failed fleet-beat.service; systemctl restart fleet.target")
    assert wait_health(robot) == 200


@pytest.mark.parametrize(
    "plant",
    [
        "ln -s /tmp /dev/shm/horus.fleet",  # another user's link at the namespace's name
        "mkdir -m 0777 /dev/shm/horus.fleet && mkdir -m 0777 /dev/shm/horus.fleet/topics",  # and a directory
    ],
)
def test_a_namespace_planted_by_another_user_is_taken_back(robot: Robot, inventory: Path, plant: str) -> None:
    """While the nodes are stopped another local user takes the shared-memory namespace's name; the next
    deploy removes what they planted (never following it), and the nodes run in a directory of their own."""
    confirmed = current_release(robot, PREFIX)
    robot.ssh("systemctl stop fleet.target && rm -rf /dev/shm/horus.fleet")
    robot.ssh(["runuser", "-u", "nobody", "--", "sh", "-c", plant])
    run = deploy(inventory, robot, "-e", f"release={confirmed}")
    assert run.rc == 0, run.output[-3000:]
    assert "/dev/shm/horus.fleet was" in words(run.output) and "removed, made again" in words(run.output)
    assert wait_health(robot) == 200
    owners = robot.ssh("stat -c '%F %U %a' /dev/shm/horus.fleet /dev/shm/horus.fleet/topics").stdout.splitlines()
    assert owners == ["directory horus 700", "directory horus 700"]
    assert robot.ssh("ls /tmp/stats /tmp/topics", check=False).returncode != 0  # nothing went through the link


def test_rollback_by_hand(robot: Robot, inventory: Path) -> None:
    before = current_release(robot, PREFIX)
    previous = robot.ssh(f"cat {PREFIX}/previous").stdout.strip()
    run = playbook(inventory, [robot], name="rollback.yml")
    assert run.rc == 0, run.output[-3000:]
    assert current_release(robot, PREFIX) == previous != before
    assert health(robot) == 200


HOLDER = "import horus, time\nwith horus.UpdateHold('docking at bay 3'):\n    time.sleep(3600)\n"


def test_a_robot_busy_with_a_task_is_not_restarted_until_it_is_done(
    robot: Robot, inventory: Path, bundles: Bundles
) -> None:
    """A node holds updates: the deploy transfers and assembles the release, waits at the switch, and
    after horus_robot_hold_timeout reports the robot held (not failed), its nodes untouched. Once the
    holder is gone (killed: a hold ends with its process), the next deploy switches; and a deploy
    already waiting switches seconds after the hold ends (printed)."""
    running = current_release(robot, PREFIX)
    target = bundles.good if running != bundles.good else bundles.app_change
    python = f"{PREFIX}/current/venv/bin/python"
    hold = f"systemd-run --unit=mission --uid=horus -E HORUS_NAMESPACE=fleet {python} -c {shlex.quote(HOLDER)}"
    robot.ssh(hold)
    try:
        wait_for(lambda: "docking at bay 3" in robot.ssh("horus updates").stdout, "the node's hold")
        pid = robot.ssh("systemctl show -P MainPID fleet-beat.service").stdout.strip()
        held = deploy(inventory, robot, "-e", f"release={target}", "-e", "horus_robot_hold_timeout=20")
        assert held.rc == 0 and held.failed(robot.name) == 0, held.output[-3000:]
        assert "HELD" in held.output and "docking at bay 3" in words(held.output)
        assert current_release(robot, PREFIX) == running
        assert robot.ssh("systemctl show -P MainPID fleet-beat.service").stdout.strip() == pid
        assert robot.ssh(f"test -d {PREFIX}/releases/{target}", check=False).returncode == 0  # assembled meanwhile
        fleet = [sys.executable, "-m", "horus_pipeline.fleet", "status", "-i", str(inventory)]
        table = subprocess.run(fleet, capture_output=True, text=True, timeout=120).stdout
        assert "HELD (" in table and "docking at bay 3" in table, table
        late = subprocess.run([*fleet, "--behind", "--release", target], capture_output=True, text=True, timeout=120)
        assert late.returncode == 1 and late.stdout.strip() == f"{robot.name}: on {running}, wants {target}"

        released_at: list[float] = []

        def release_soon() -> None:
            def kill() -> None:
                time.sleep(8)
                released_at.append(time.time())
                robot.ssh("systemctl kill -s KILL mission", check=False)

            threading.Thread(target=kill, daemon=True).start()

        waited = deploy(
            inventory, robot, "-e", f"release={target}", at=("verify the release on the robot", release_soon)
        )
        assert waited.rc == 0, waited.output[-3000:]
        assert current_release(robot, PREFIX) == target and wait_health(robot) == 200
        switched_at = float(
            robot.ssh(["python3", "-c", f"import os; print(os.lstat('{PREFIX}/current').st_mtime)"]).stdout
        )
        print(f"hold released -> current switched: {switched_at - released_at[0]:.1f} s")
        assert switched_at >= released_at[0]  # it waited for the hold to end
    finally:
        robot.ssh("systemctl kill -s KILL mission; systemctl reset-failed mission", check=False)


def wait_for(
    ready: Callable[[], bool], what: str, timeout: float = 30, explain: Callable[[], str] = lambda: ""
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not there after {timeout:g}s\n{explain()}")
        time.sleep(0.5)


def test_keyrings_rotate_the_robot_s_trust_in_one_deploy(
    robot: Robot, inventory: Path, bundles: Bundles, tmp_path: Path
) -> None:
    """Two rotations and a revocation while the robot was away: one deploy walks the chain (each keyring
    signed by a key trusted at that step), and the revoked key is never trusted again."""
    second, second_signers = bundles.new_key("second")
    third, third_signers = bundles.new_key("third")
    first_and_second = tmp_path / "first-and-second"
    first_and_second.write_text(bundles.allowed_signers.read_text() + second_signers.read_text())
    second_and_third = tmp_path / "second-and-third"
    second_and_third.write_text(second_signers.read_text() + third_signers.read_text())
    rings = [tmp_path / "ring-1.json", tmp_path / "ring-2.json"]
    write_keyring(rings[0], 1, first_and_second, [], bundles.key)
    write_keyring(rings[1], 2, second_and_third, [bundles.key.with_suffix(".pub")], second)
    running = current_release(robot, PREFIX)
    release = bundles.good if running != bundles.good else bundles.app_change
    out = bundles.resigned(release, third, tmp_path / "bundles")
    keyrings = json.dumps({"horus_robot_keyrings": [str(r) for r in rings]})
    run = deploy(inventory, robot, "-e", f"horus_robot_bundles_dir={out}", "-e", f"release={release}", "-e", keyrings)
    assert run.rc == 0, run.output[-3000:]
    assert "trust rotated to keyring serial 1" in run.output and "trust rotated to keyring serial 2" in run.output
    assert current_release(robot, PREFIX) == release and health(robot) == 200
    anchor = robot.ssh("cat /etc/horus/trust/allowed_signers").stdout
    first_key = bundles.key.with_suffix(".pub").read_text().split()[1]
    assert third.with_suffix(".pub").read_text().split()[1] in anchor and first_key not in anchor
    # The revoked key's releases are refused, even with the first keyring (which named it) sent again.
    again = json.dumps({"horus_robot_keyrings": [str(rings[0])]})
    refused = deploy(inventory, robot, "-e", f"release={running}", "-e", again)
    assert refused.rc != 0 and "is not signed by a key this robot trusts" in words(refused.output)
    assert current_release(robot, PREFIX) == release


def test_a_deploy_sends_what_changed_and_a_no_op_least() -> None:
    """Deploy time and bytes sent per case (the veth counter: SSH and Ansible's modules included),
    printed for the figures; the layers are what makes an app-only change cheaper than a fresh
    install, and a deploy with nothing to do cheaper still."""
    cases = ("fresh", "no-op", "app-only change", "one-package bump")
    require(all(c in FIGURES for c in cases), f"the deploys of this module's earlier tests ({', '.join(cases)})")
    for case, (seconds, sent) in FIGURES.items():
        print(f"fleet-amd64 {case:<16} {seconds:6.1f} s  {sent / 1024:9.1f} KiB sent")
    sent = {case: FIGURES[case][1] for case in cases}
    assert sent["no-op"] < sent["app-only change"] < sent["fresh"], sent
    assert sent["no-op"] < sent["one-package bump"] < sent["fresh"], sent


def squat_health_port(root: Path) -> None:
    """Another program holds the health port: the app cannot serve, its health check fails."""
    unit = root / "etc/systemd/system/squatter.service"
    unit.write_text(
        "[Service]\nExecStart=/usr/bin/python3 -m http.server 8080 --bind 127.0.0.1\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "squatter.service").symlink_to("/etc/systemd/system/squatter.service")


def test_fleet_with_broken_canary_stops_after_first_batch(sim: Sim, bundles: Bundles, tmp_path: Path) -> None:
    spec = load_image(IMAGE)
    robots = sim.boot(spec, 1, customize=squat_health_port)
    try:
        robots += sim.boot(spec, 2)
        inventory = write_inventory(
            tmp_path / "inventory.yml",
            robots,
            horus_robot_bundles_dir=str(bundles.out),
            horus_robot_health_timeout=20,
        )
        run = playbook(inventory, robots, "-e", f"release={bundles.good}")
        canary, rest = robots[0], robots[1:]
        assert run.rc != 0
        assert run.failed(canary.name) == 1 and "did not become healthy" in run.output
        assert run.summary() == {canary.name: "failed", **{r.name: "skipped" for r in rest}}
        for r in rest:  # the rollout stopped: the other two were never touched
            assert r.name not in run.recap or run.recap[r.name]["ok"] == 0
            assert robot_untouched(r)
    finally:
        sim.stop(robots)


@pytest.fixture(scope="module")
def five(sim: Sim) -> Iterator[list[Robot]]:
    """Five robots, the second and third with another program on the health port."""
    spec = load_image(IMAGE)
    robots = sim.boot(spec, 1)
    try:
        robots += sim.boot(spec, 2, customize=squat_health_port)
        robots += sim.boot(spec, 2)
        yield robots
    finally:
        sim.stop(robots)


POLICY = {"horus_rollout_batches": [1, "40%", "100%"], "horus_rollout_max_fail_percent": 50}


def test_a_rollout_stops_once_its_failures_cross_the_threshold(
    five: list[Robot], bundles: Bundles, tmp_path: Path
) -> None:
    """Batches of 1, 2 and 2: the canary passes, both robots of the second batch fail their health gate
    (2 of 3 reached: over 50%), and the third batch never starts."""
    inventory = write_inventory(
        tmp_path / "inventory.yml", five, horus_robot_bundles_dir=str(bundles.out), horus_robot_health_timeout=20,
        **POLICY,
    )  # fmt: skip
    run = playbook(inventory, five, "-e", f"release={bundles.good}")
    first, broken, rest = five[0], five[1:3], five[3:]
    assert run.rc != 0
    assert run.summary() == {
        first.name: "updated", **{r.name: "failed" for r in broken}, **{r.name: "skipped" for r in rest}
    }, run.output[-3000:]  # fmt: skip
    assert "2 of the 3 robots reached failed (67% > horus_rollout_max_fail_percent 50%)" in words(run.output)
    assert current_release(first, PREFIX) == bundles.good and health(first) == 200
    for r in broken:
        assert run.failed(r.name) == 1 and current_release(r, PREFIX) == ""
    for r in rest:
        assert run.recap.get(r.name, {}).get("changed", 0) == 0 and robot_untouched(r)


def test_an_unreachable_robot_is_reported_and_the_next_deploy_brings_only_it_forward(
    five: list[Robot], bundles: Bundles, tmp_path: Path
) -> None:
    """One robot is off the network during the rollout: reported unreachable, not failed, and the rest
    are updated. Back on the network, `--behind` lists it alone and the next deploy updates only it."""
    for r in five[1:3]:
        r.ssh("systemctl disable --now squatter")
    away = five[3]
    first = "current" if current_release(five[0], PREFIX) == bundles.good else "updated"  # after the test above
    inventory = write_inventory(
        tmp_path / "inventory.yml", five, horus_robot_bundles_dir=str(bundles.out), horus_robot_health_timeout=20,
        **POLICY,
    )  # fmt: skip
    subprocess.run(["ip", "link", "set", away.netns, "down"], check=True)
    try:
        run = playbook(inventory, five, "-e", f"release={bundles.good}")
    finally:
        subprocess.run(["ip", "link", "set", away.netns, "up"], check=True)
    assert run.rc == 0, run.output[-3000:]
    others = [r for r in five if r is not away]
    assert run.summary() == {
        five[0].name: first, away.name: "unreachable", **{r.name: "updated" for r in others[1:]}
    }, run.output[-3000:]  # fmt: skip
    wait_for(lambda: away.ssh("true", check=False).returncode == 0, "the robot back on the network")
    fleet = [sys.executable, "-m", "horus_pipeline.fleet", "status", "-i", str(inventory), "--behind"]
    behind = subprocess.run([*fleet, "--release", bundles.good], capture_output=True, text=True, timeout=120)
    assert behind.returncode == 1 and [line.split(":")[0] for line in behind.stdout.splitlines()] == [away.name]
    again = playbook(inventory, five, "-e", f"release={bundles.good}")
    assert again.rc == 0, again.output[-3000:]
    assert again.summary() == {**{r.name: "current" for r in others}, away.name: "updated"}
    assert all(again.changed(r.name) == 0 for r in others)
    assert current_release(away, PREFIX) == bundles.good and health(away) == 200


def robot_untouched(robot: Robot) -> bool:
    return untouched(robot)


METRICS_PASSWORD = "a password from the vault"


def main_pid(robot: Robot) -> str:
    return robot.ssh("systemctl show -p MainPID --value fleet-beat.service").stdout.strip()


def test_prometheus_scrapes_robots_through_their_gateways_and_alerts_on_a_killed_node_process(
    five: list[Robot], bundles: Bundles, tmp_path: Path
) -> None:
    """Three robots get a metrics gateway from the inventory (horus_robot_metrics_*) without a restart
    of their nodes; a real Prometheus scrapes them over TLS with a password, through the targets file
    `nox -s fleet` wrote; nothing is served without credentials and the nodes stay on loopback; a node
    process killed until systemd gives up on it makes HorusNodeNotHealthy fire within 90 s."""
    robots = [five[0], *five[3:]]  # no squatter on their health port
    ca = tmp_path / "ca"
    inventory = write_inventory(
        tmp_path / "inventory.yml", robots, horus_robot_bundles_dir=str(bundles.out),
        horus_robot_metrics_listen="0.0.0.0:9469", horus_robot_metrics_users={"prometheus": METRICS_PASSWORD},
        horus_robot_tls_ca_dir=str(ca),
    )  # fmt: skip
    running = {r.name: main_pid(r) for r in robots if current_release(r, PREFIX) == bundles.good}
    run = playbook(inventory, robots, "-e", f"release={bundles.good}")
    assert run.rc == 0, run.output[-3000:]
    assert METRICS_PASSWORD not in run.output and "PRIVATE KEY" not in run.output
    assert {name: main_pid(r) for r in robots if (name := r.name) in running} == running  # no node restarted
    unit = "horus-metrics-fleet.service"
    verify = robots[0].ssh(f"systemd-analyze verify /etc/systemd/system/{unit}", check=False)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    exposure = robots[0].ssh(f"systemd-analyze security --no-pager {unit} | tail -1").stdout
    assert float(exposure.split(":")[1].split()[0]) <= 2.5, exposure

    targets, password = tmp_path / "targets.json", tmp_path / "password"
    password.write_text(METRICS_PASSWORD)
    fleet = [sys.executable, "-m", "horus_pipeline.fleet", "-i", str(inventory), "--bundles", str(bundles.out)]
    subprocess.run([*fleet, "--release", bundles.good, "--prometheus-targets", str(targets)], check=True, timeout=120)
    auth = {"username": "prometheus", "password_file": str(password)}
    with running_prometheus(tmp_path, targets, tls_config={"ca_file": str(ca / "ca.crt")}, basic_auth=auth) as server:
        server.wait_for(
            "three robots scraped over TLS",
            lambda: len(server.series(f'horus_release_info{{running_release="{bundles.good}"}}')) == 3,
            timeout=60,
        )
        assert {s["metric"]["robot"] for s in server.series('up{job="horus"} == 1')} == {r.name for r in robots}
        context = ssl.create_default_context(cafile=str(ca / "ca.crt"))
        for r in robots:
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"https://{r.address}:9469/metrics", timeout=10, context=context)
            assert refused.value.code == 401
            with pytest.raises(ConnectionRefusedError):  # the node process's own endpoint: loopback only
                socket.create_connection((r.address, 8080), timeout=10).close()

        victim = robots[0]
        killed = time.monotonic()
        try:
            victim.ssh(
                "for i in $(seq 30); do systemctl is-failed -q fleet-beat.service && exit 0; "
                "systemctl kill -s KILL fleet-beat.service; sleep 1; done; exit 1"
            )
            alerts = server.wait_for(
                "HorusNodeNotHealthy for the robot whose node process is gone",
                lambda: [
                    a["labels"] for a in server.firing()
                    if a["labels"]["alertname"] == "HorusNodeNotHealthy" and a["labels"]["robot"] == victim.name
                ],
                timeout=90 - (time.monotonic() - killed),
            )  # fmt: skip
            print(f"HorusNodeNotHealthy fired {time.monotonic() - killed:.0f}s after the first kill")
            assert alerts == [{**alerts[0], "state": "down", "node": "(the process serving /health)"}]
        finally:
            victim.ssh("systemctl reset-failed fleet-beat.service; systemctl start fleet.target")
        assert wait_health(victim) == 200


class Collector:
    """systemd-journal-remote on this host, over HTTPS with a certificate of the fleet's CA: the central journal."""

    def __init__(self, tmp: Path, ca: Path, addresses: list[str]) -> None:
        self.out, self.tmp, self.ca = tmp / "journal", tmp, ca
        self.out.mkdir()
        ext = tmp / "collector.ext"
        ext.write_text(f"subjectAltName={','.join(f'IP:{a}' for a in addresses)}\nextendedKeyUsage=serverAuth\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for argv in (
            ["req", "-new", *ec, "-subj", "/CN=collector", "-keyout", "collector.key", "-out", "collector.csr"],
            ["x509", "-req", "-in", "collector.csr", "-CA", str(ca / "ca.crt"), "-CAkey", str(ca / "ca.key"),
             "-set_serial", "9", "-days", "2", "-extfile", str(ext), "-out", "collector.crt"],
        ):  # fmt: skip
            subprocess.run(["openssl", *argv], cwd=tmp, check=True, capture_output=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # No --trust: Debian 12 builds systemd-journal-remote without it (no check of the robots'
        # certificates); the robots check the collector's.
        argv = ["/lib/systemd/systemd-journal-remote", "--listen-https=0.0.0.0:19532",
                f"--key={self.tmp / 'collector.key'}", f"--cert={self.tmp / 'collector.crt'}",
                f"--output={self.out}/"]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=(self.tmp / "collector.log").open("ab"))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def messages(self, node: str) -> list[str]:
        found = subprocess.run(["journalctl", "-D", str(self.out), "-o", "json", f"HORUS_NODE={node}"],
                               capture_output=True, text=True, timeout=30)  # fmt: skip
        return [json.loads(line)["MESSAGE"] for line in found.stdout.splitlines() if line.startswith("{")]


def log_warning(robot: Robot, node: str, text: str) -> None:
    """A node's log_warning, in a unit of its own on the robot (as a deployed node logs)."""
    script = f"import horus; horus.run(horus.Node(name={node!r}, tick=lambda n: n.log_warning({text!r})), duration=0.3)"
    robot.ssh(
        "systemd-run --wait --quiet -p User=horus -p Environment=HORUS_NAMESPACE=journal-check "
        f"{PREFIX}/current/venv/bin/python -c {shlex.quote(script)}; rm -rf /dev/shm/horus.journal-check"
    )


def test_a_node_s_warnings_reach_the_central_journal_and_an_offline_robot_catches_up(
    five: list[Robot], bundles: Bundles, tmp_path: Path
) -> None:
    """The inventory's horus_robot_journal_upload_url: a node's log_warning reaches a real
    systemd-journal-remote on this host within 10 s, with its HORUS_NODE field; what the robot logs
    while the collector is down arrives once it is back."""
    require_host_packages(MONITORING_PACKAGES, "systemd-journal-remote, the central journal's collector")
    robot = five[0]
    ca = tmp_path / "ca"
    ca.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=test fleet CA", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-keyout", "ca.key", "-out", "ca.crt"], cwd=ca, check=True, capture_output=True)  # fmt: skip
    host_side = robot.ssh("ip -4 route show default").stdout.split()[2]
    collector = Collector(tmp_path, ca, [host_side])
    collector.start()
    try:
        inventory = write_inventory(
            tmp_path / "inventory.yml", [robot], horus_robot_bundles_dir=str(bundles.out),
            horus_robot_journal_upload_url=f"https://{host_side}:19532", horus_robot_tls_ca_dir=str(ca),
        )  # fmt: skip
        run = playbook(inventory, [robot], "-e", f"release={bundles.good}")
        assert run.rc == 0, run.output[-3000:]
        assert "PRIVATE KEY" not in run.output

        log_warning(robot, "journal-check", "first warning")
        logged = time.monotonic()
        wait_for(lambda: "first warning" in collector.messages("journal-check"), "the warning on the collector", 10)
        print(f"on the collector {time.monotonic() - logged:.1f}s after the node logged it")

        collector.stop()
        log_warning(robot, "journal-check", "logged while the collector was down")
        collector.start()
        wait_for(lambda: "logged while the collector was down" in collector.messages("journal-check"),
                 "the missed warning after the collector came back", 60)  # fmt: skip
        assert robot.ssh("systemctl is-active systemd-journal-upload.service").stdout.strip() == "active"
    finally:
        collector.stop()
