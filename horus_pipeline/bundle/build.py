"""`nox -s bundle`: offline, reproducible venv bundles per robot image, in content-addressed layers.

For each image: check its lock is fresh, fetch its locked wheels for the robot's CPU
(wheels.py), build one layer per locked package, one for the horus_core wheel of its arch,
one for the app, one for its compiled services if it has any (native.py) and one for the
robot's assembly tool (layers.py), and publish

    dist/bundles/<image>/layers/<layer-hash>.tar.gz (+ .sha256)
    dist/bundles/<image>/releases/<release-id>.json (+ .sig with --sign)
    dist/bundles/<image>/latest        the id of the newest release, one line

Layers come from the cache when it has them, so a build with nothing changed builds
nothing, an app edit builds only the app layer, a pin bump only that package's layer. The
package layers of all images are built side by side, one per core (pool.py), and the build
ends with the seconds each stage took.
Every file is written beside its destination and renamed into place: an interrupted
build leaves the last complete bundle, never a half-written file with a final name.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import REPO
from ..console import Stages, info, run_cli, step
from ..core import WHEELS, build_core_wheel, wheel_for
from ..determinism import publish_link, sha256_file, write_atomic
from ..doctor.release import require_release_ok
from ..errors import PipelineError
from ..images import ImageSpec, all_images, load_image
from ..lock.compile import check_lock_fresh
from ..lock.lockfile import Lock
from ..project import load_project
from ..robot.assemble import FORMAT
from ..sim.prereqs import DELTA_PACKAGES, ensure_packages
from . import sbom
from .delta import release_deltas
from .layers import Layer, app_files, build_tree_layer, build_wheel_layer, cached_layer, layer_hash, pyc_mode
from .native import build_native_layer, native_services
from .pool import WheelJob, build_wheel_layers, workers
from .release import ManifestLayer, ReleaseManifest, compose, dumps, read_manifest
from .signing import SIGN_NAMESPACE, configured_key, how_to_make_a_key, release_serial, sign
from .wheels import chosen_hash, ensure_wheels

BUNDLES = REPO / "dist" / "bundles"
ASSEMBLER = Path(__file__).parent.parent / "robot" / "assemble.py"


@dataclass
class BundleResult:
    image: str
    release: str
    manifest: Path
    serial: int
    built: list[str] = field(default_factory=list)  # "<kind> <name> <version>" of layers built now
    layers: list[Layer] = field(default_factory=list)


def _core_wheel(spec: ImageSpec, wheels_dir: Path) -> Path:
    try:
        return wheel_for(spec.target.arch, wheels_dir)
    except PipelineError:
        with step(f"horus_core wheel for {spec.target.arch.name} (none in {wheels_dir})"):
            return build_core_wheel(spec.target.arch, wheels_dir)


@dataclass
class _Packages:
    """An image's package layers while they are made: found in the cache, or a job that builds one."""

    spec: ImageSpec
    lock: Lock
    cached: dict[str, Layer] = field(default_factory=dict)  # by pin name
    jobs: dict[str, WheelJob] = field(default_factory=dict)  # by pin name


def _plan_packages(spec: ImageSpec, lock: Lock) -> _Packages:
    """Which of the lock's package layers the cache has; the wheels of the others, fetched, as jobs."""
    plan = _Packages(spec, lock)
    need = []
    for pin in lock.pins.values():
        hex_ = chosen_hash(pin, spec.target)
        cached = cached_layer(layer_hash("package", hex_, spec.target)) if hex_ else None
        if cached is not None:
            plan.cached[pin.name] = cached
        else:
            need.append(pin)
    wheels = ensure_wheels(spec, need) if need else {}
    for pin in need:
        wheel = wheels[pin.name]
        plan.jobs[pin.name] = WheelJob(wheel.path, wheel.sha256, "package", pin.name, pin.version, spec.target)
    return plan


def _job_hash(job: WheelJob) -> str:
    return layer_hash(job.kind, job.sha256, job.target)


def _own_layers(spec: ImageSpec, layers: list[Layer], built: list[str], wheels_dir: Path) -> tuple[str, str]:
    """Add the image's core, app, native, tool and sbom layers to `layers` (and `built`); its (app, version)."""
    target = spec.target
    core = _core_wheel(spec, wheels_dir)
    version = core.name.split("-")[1]
    layer, new = build_wheel_layer(core, sha256_file(core), "core", "horus-core", version, target)
    layers.append(layer)
    if new:
        built.append(f"core horus-core {version}")
    project = load_project(spec.app)
    layer, new = build_tree_layer(spec.app, app_files(spec.app), "app", project.name, project.version, target, True)
    layers.append(layer)
    if new:
        built.append(f"app {project.name} {project.version}")
    if native_services(spec):
        layer, new = build_native_layer(spec, core, sha256_file(core), project.version)
        layers.append(layer)
        if new:
            built.append(f"native {project.name} {project.version}")
    # assemble.py imports the robot contract beside it; the metrics gateway runs from the release too.
    tool = [ASSEMBLER, *(ASSEMBLER.with_name(n) for n in ("contract.py", "metrics_gateway.py"))]
    layer, new = build_tree_layer(ASSEMBLER.parent, tool, "tool", "assemble", str(FORMAT), target, False)
    layers.append(layer)
    if new:
        built.append(f"tool assemble {FORMAT}")
    app = (project.name, project.version)
    with tempfile.TemporaryDirectory(prefix="horus-sbom-") as tmp:
        doc = sbom.write(spec, layers, app, Path(tmp))
        layer, new = build_tree_layer(Path(tmp), [doc], "sbom", "sbom", "cyclonedx-1.6", target, False)
    layers.append(layer)
    if new:
        built.append("sbom")
    return app


@dataclass
class ImageLayers:
    """Every layer of one image's release, what of it was built now, and its app (name, version)."""

    layers: list[Layer]
    built: list[str]  # "<kind> <name> <version>"
    app: tuple[str, str]


def build_images_layers(
    images: Sequence[tuple[ImageSpec, Lock]], wheels_dir: Path = WHEELS, stages: Stages | None = None
) -> list[ImageLayers]:
    """Every layer of each image's release, from the cache or built now: the package layers of all
    images side by side on every core (pool.py), each the same bytes as one built alone."""
    stages = stages or Stages()
    with stages("fetch wheels"):
        plans = [_plan_packages(spec, lock) for spec, lock in images]
    jobs = {_job_hash(job): job for plan in plans for job in plan.jobs.values()}
    if jobs:
        info(f"{len(jobs)} package layer(s) to build, {min(len(jobs), workers())} at once")
    with stages("package layers"):
        made = build_wheel_layers(jobs)
    reported: set[str] = set()  # a layer two images share was built once: said once
    results = []
    with stages("core, app, native, tool and sbom layers"):
        for plan in plans:
            layers: list[Layer] = []
            built: list[str] = []
            for pin in plan.lock.pins.values():  # lock order, as the manifest lists them
                if pin.name in plan.cached:
                    layers.append(plan.cached[pin.name])
                    continue
                hash_ = _job_hash(plan.jobs[pin.name])
                layer, new = made[hash_]
                layers.append(layer)
                if new and hash_ not in reported:
                    reported.add(hash_)
                    built.append(f"package {pin.name} {pin.version}")
            app = _own_layers(plan.spec, layers, built, wheels_dir)
            results.append(ImageLayers(layers, built, app))
    return results


def build_layers(
    spec: ImageSpec, lock: Lock, wheels_dir: Path = WHEELS
) -> tuple[list[Layer], list[str], tuple[str, str]]:
    """Every layer of the image's release (from the cache or built), what was built, and (app, version)."""
    (result,) = build_images_layers([(spec, lock)], wheels_dir)
    return result.layers, result.built, result.app


def publish_layer(layer: Layer, layers_dir: Path) -> None:
    """Put the layer's archive (a hard link to the cache's, or a copy) and its .sha256 into layers_dir."""
    dest = layers_dir / f"{layer.hash}.tar.gz"
    src = layer.archive
    if dest.exists() and os.path.samestat(dest.stat(), src.stat()):
        return
    actual = sha256_file(src)  # checked before it is published: the cache is this machine's, not signed
    if actual != layer.archive_sha256:
        for stale in (src, src.with_suffix("").with_suffix(".json")):
            stale.unlink(missing_ok=True)
        raise PipelineError(
            f"cached layer {src} has sha256 {actual}, not {layer.archive_sha256}: removed from the cache "
            "(not used); run the build again to rebuild it"
        )
    publish_link(src, dest)
    write_atomic(layers_dir / f"{layer.hash}.tar.gz.sha256", f"{layer.archive_sha256}  {dest.name}\n".encode())


def build_bundles(
    specs: Sequence[ImageSpec],
    out: Path = BUNDLES,
    *,
    wheels_dir: Path = WHEELS,
    sign_key: Path | None = None,
    serial: int | None = None,
    stages: Stages | None = None,
) -> list[BundleResult]:
    """Build (or reuse) every layer of the images, all at once, and publish each release under out/<image>/.

    serial: the release's place in the robot's downgrade order (default: signing.release_serial).
    An unsigned release replaces any signature an earlier build of the same id left."""
    stages = stages or Stages()
    with stages("check locks"):
        for spec in specs:
            if pyc_mode(spec.target) == "none":
                info(
                    f"{spec.name}: this is Python {platform.python_version()}, the robot runs {spec.target.python}: "
                    "layers ship no .pyc (the robot imports from source)"
                )
        locks = [check_lock_fresh(spec) for spec in specs]
        serials = [release_serial(spec.path.parent) if serial is None else serial for spec in specs]
    built = build_images_layers(list(zip(specs, locks, strict=True)), wheels_dir, stages)
    with stages("manifests and publish"):
        return [
            _publish(spec, lock, made, out, sign_key, number)
            for spec, lock, made, number in zip(specs, locks, built, serials, strict=True)
        ]


def _publish(
    spec: ImageSpec, lock: Lock, made: ImageLayers, out: Path, sign_key: Path | None, serial: int
) -> BundleResult:
    manifest = compose(spec, lock, made.layers, made.app, serial)
    root = out / spec.name
    (root / "layers").mkdir(parents=True, exist_ok=True)
    (root / "releases").mkdir(parents=True, exist_ok=True)
    for layer in made.layers:
        publish_layer(layer, root / "layers")
    _offer_deltas(manifest, made.layers, root)
    path = root / "releases" / f"{manifest['id']}.json"
    text = dumps(manifest).encode()
    if not path.is_file() or path.read_bytes() != text:
        write_atomic(path, text)
    if sign_key is not None:
        sign(path, sign_key, text)  # the manifest composed here, not what the file holds by now
    else:
        path.with_name(path.name + ".sig").unlink(missing_ok=True)
    latest = root / "latest"
    if not latest.is_file() or latest.read_text().strip() != manifest["id"]:
        write_atomic(latest, f"{manifest['id']}\n".encode())
    return BundleResult(spec.name, manifest["id"], path, serial, made.built, made.layers)


def _previous_release(root: Path, rid: str) -> ReleaseManifest | None:
    """The release this build follows: the one `latest` names, or, when that is this very release (a
    rebuild), the release it followed then (the `from` of its deltas, read from its manifest)."""
    try:
        latest = (root / "latest").read_text(encoding="utf-8").strip()
        before = read_manifest(root / "releases" / f"{latest}.json")
    except (OSError, PipelineError):
        return None
    if latest != rid:
        return before
    froms = {la["delta"]["from"] for la in before["layers"] if "delta" in la}
    for path in sorted((root / "releases").glob("*.json")):
        try:
            other = read_manifest(path)
        except PipelineError:
            continue
        if other["id"] != rid and froms & {la["hash"] for la in other["layers"]}:
            return other
    return None


def _offer_deltas(manifest: ReleaseManifest, layers: list[Layer], root: Path) -> None:
    """Give each layer that travels better as a delta from the previous release its `delta` entry
    (bundle/delta.py); without zstd and xdelta3 (installed here when root can), layers travel whole."""
    before = _previous_release(root, manifest["id"])
    if before is None:
        return
    if not all(shutil.which(tool) for tool in DELTA_PACKAGES):
        try:
            ensure_packages(DELTA_PACKAGES)
        except PipelineError as exc:
            info(f"{manifest['image']}: layers are offered whole, without deltas: {exc}")
            return
    offered, whole = release_deltas(layers, before, root)
    for layer in manifest["layers"]:
        if layer["hash"] in offered:
            layer["delta"] = offered[layer["hash"]]
    for why in whole:
        info(f"{manifest['image']}: {why}: sent whole")


def build_bundle(
    spec: ImageSpec,
    out: Path = BUNDLES,
    *,
    wheels_dir: Path = WHEELS,
    sign_key: Path | None = None,
    serial: int | None = None,
) -> BundleResult:
    """Build (or reuse) every layer of one image and publish its release (see build_bundles)."""
    (result,) = build_bundles([spec], out, wheels_dir=wheels_dir, sign_key=sign_key, serial=serial)
    return result


def find_release(ref: str, out: Path = BUNDLES) -> Path:
    """A release manifest by path, by `<image>/<id>`, or by id alone (searched under out)."""
    path = Path(ref)
    if path.is_file():
        return path
    if "/" in ref:
        image, _, rid = ref.partition("/")
        candidates = [out / image / "releases" / f"{rid}.json"]
    else:
        candidates = sorted(out.glob(f"*/releases/{ref}.json"))
    found = [c for c in candidates if c.is_file()]
    if not found:
        raise PipelineError(f"no release {ref!r} under {out} (give a manifest path, IMAGE/ID or an ID)")
    return found[0]


@dataclass(frozen=True)
class Receive:
    """What a robot on one release receives for another: the bytes sent (the manifest, and each layer it
    lacks as its delta when the new release offers one from a layer of the old), the bytes of the same
    layers sent whole, and how many layers it lacks."""

    sent: int
    whole: int
    layers: int


def diff(old: ReleaseManifest, new: ReleaseManifest) -> tuple[list[ManifestLayer], list[ManifestLayer], Receive]:
    """Layers NEW shares with OLD, layers a robot that has OLD must receive, and what it receives."""
    have = {layer["hash"] for layer in old["layers"]}
    shared = [layer for layer in new["layers"] if layer["hash"] in have]
    fresh = [layer for layer in new["layers"] if layer["hash"] not in have]
    manifest_bytes = len(dumps(new).encode())
    whole = sum(layer["archive_size"] for layer in fresh)
    sent = sum(_sent_size(layer, have) for layer in fresh)
    return shared, fresh, Receive(manifest_bytes + sent, manifest_bytes + whole, len(fresh))


def _sent_size(layer: ManifestLayer, have: set[str]) -> int:
    delta = layer.get("delta")
    return delta["size"] if delta is not None and delta["from"] in have else layer["archive_size"]


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GiB"


def print_sbom_diff(old: ReleaseManifest, old_bundle: Path, new: ReleaseManifest, new_bundle: Path) -> None:
    docs = sbom.of_release(old, old_bundle), sbom.of_release(new, new_bundle)
    if docs[0] is None or docs[1] is None:
        print("SBOM: not in both releases (built before SBOMs)")
        return
    lines = sbom.diff_lines(docs[0], docs[1])
    print(f"SBOM packages changed ({len(lines)}):" if lines else "SBOM: same packages, versions and licenses")
    for line in lines:
        print(line)


def print_diff(old_path: Path, new_path: Path) -> None:
    old, new = read_manifest(old_path), read_manifest(new_path)
    shared, fresh, receive = diff(old, new)
    have = {la["hash"] for la in old["layers"]}
    print(f"{old['image']} {old['id']} -> {new['image']} {new['id']}")
    print(f"shared layers ({len(shared)}, {_size(sum(la['archive_size'] for la in shared))}, not sent):")
    for la in shared:
        print(f"  = {la['kind']:<8}{la['name']} {la['version']}  {_size(la['archive_size'])}")
    print(f"layers to send ({len(fresh)}):")
    for la in fresh:
        sent = _sent_size(la, have)
        how = f"{_size(sent)} as a delta of {_size(la['archive_size'])}" if sent != la["archive_size"] else _size(sent)
        print(f"  + {la['kind']:<8}{la['name']} {la['version']}  {how}  {la['hash'][:16]}")
    manifest_bytes = len(dumps(new).encode())
    print(
        f"a robot with {old['id']} receives {receive.sent} bytes ({_size(receive.sent)}, manifest "
        f"{_size(manifest_bytes)}; {_size(receive.whole)} without deltas)"
    )
    print_sbom_diff(old, old_path.parent.parent, new, new_path.parent.parent)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s bundle --",
        description="Build offline venv bundles for robot images: one content-addressed layer per locked "
        "package, one for horus_core, one for the app, and a release manifest, under "
        "dist/bundles/<image>/. A robot that has an older release receives only the layers that changed. "
        "Output is byte-identical for the same inputs.",
        epilog="Examples: `nox -s bundle` (every image), `nox -s bundle -- demo-arm64`, "
        "`nox -s bundle -- --diff demo-arm64/OLD_ID demo-arm64/NEW_ID`. On the robot, "
        "releases are assembled by the assemble.py each release carries (see its --help).",
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image names or spec files (default: all)")
    parser.add_argument("--out", type=Path, default=BUNDLES, help="output directory (default: dist/bundles)")
    parser.add_argument(
        "--core-wheels", type=Path, default=WHEELS, metavar="DIR",
        help="where the horus_core wheels are (default: dist/wheels; a missing one is built)",
    )  # fmt: skip
    signing = parser.add_mutually_exclusive_group()
    signing.add_argument(
        "--sign", type=Path, metavar="KEY",
        help=f"sign each release manifest with this SSH private key (ssh-keygen -Y sign -n {SIGN_NAMESPACE}); "
        "default: $HORUS_RELEASE_KEY, else ~/.config/horus/release_key when it exists",
    )  # fmt: skip
    signing.add_argument(
        "--unsigned", action="store_true",
        help="do not sign, even with a key configured (robots refuse the release unless their inventory sets "
        "horus_robot_allow_unsigned: true)",
    )  # fmt: skip
    parser.add_argument(
        "--no-doctor", action="store_true",
        help="build even when the image fails horus doctor's app and pipeline checks (they run first and "
        "refuse a failing release by default)",
    )  # fmt: skip
    parser.add_argument(
        "--serial", type=int, metavar="N",
        help="the release serial robots order releases by (default: $SOURCE_DATE_EPOCH, else the commit time of "
        "the checkout); a robot refuses a release with a lower serial than the newest it ran",
    )  # fmt: skip
    parser.add_argument(
        "--diff", nargs=2, metavar=("OLD", "NEW"),
        help="build nothing: show which layers two releases share and the bytes a robot with OLD must receive "
        "for NEW (each a manifest path, IMAGE/ID or ID)",
    )  # fmt: skip
    parser.add_argument(
        "--timings", type=Path, metavar="FILE",
        help="also write the seconds of each stage to FILE (JSON), for benchmarks",
    )  # fmt: skip
    args = parser.parse_args(argv)

    def body() -> None:
        if args.diff:
            print_diff(find_release(args.diff[0], args.out), find_release(args.diff[1], args.out))
            return
        specs = [load_image(n) for n in args.images] if args.images else all_images()
        key = None if args.unsigned else configured_key(args.sign)
        if key is None:
            info(
                "releases are NOT signed: robots refuse them unless the inventory sets horus_robot_allow_unsigned: "
                f"true (simulated robots do). {how_to_make_a_key()}"
            )
        stages = Stages()
        if not args.no_doctor:
            with stages("doctor"):
                for spec in specs:
                    require_release_ok(spec)  # the seed's checklist, before anything is built or shipped
        results = build_bundles(
            specs, args.out, wheels_dir=args.core_wheels, sign_key=key, serial=args.serial, stages=stages
        )
        for spec, result in zip(specs, results, strict=True):
            size = sum(layer.archive_size for layer in result.layers)
            rebuilt = ", ".join(result.built) if result.built else "nothing (all layers cached)"
            info(f"{spec.name}: release {result.release}, {len(result.layers)} layers, {_size(size)}; built {rebuilt}")
            signed = f", signed with {key}" if key else ""
            info(f"  {result.manifest} (serial {result.serial}{signed})")
        info(stages.table())
        if args.timings:
            write_atomic(args.timings, json.dumps({"stages": stages.seconds}, indent=1) + "\n")

    return run_cli(body)
