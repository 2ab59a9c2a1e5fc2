"""Lock benchmark: `nox -s lock` against `uv pip compile` on the same input, side by side.

    nox -s bench            (or: python tests/bench/lock.py --json dist/bench/lock.json)

Per image, and for all of them at once (`nox -s lock` locks every image in one pip-compile
process; uv runs once per image and its times are added up). Both re-lock from the
committed lock (the everyday case: pins kept, hashes written) with the same requirements,
the same target platform, the same indexes and constraints (pip's configuration here,
translated to uv's flags, plus the image's reachable indexes) and warm caches. Rounds
alternate between the tools and the table shows medians, because these machines are shared
and noisy (the ratio's range is over rounds, each tool's run side by side). Goal (issue 31): uv's speed.

`horus lock` is timed twice: as it runs (after round 0 an unchanged re-lock is answered from
the record of its last run in one process, its index pages fetched again and compared:
lock/uptodate.py) and resolving (that record and the driver's memo, lock/memo.py, set aside
for the run: pip-compile resolves, as after any change to the inputs or the index pages).

Resolving cannot reach uv's speed while pip-compile resolves (the lock format the product is
built on): importing pip-compile and the pip internals it drives takes 0.26 s here
(`python -I -c "import piptools.scripts.compile, pip._internal.resolution.resolvelib.factory"`),
more than uv's whole lock of a fleet image (0.06 s, with its one index page revalidated: this
machine's PyPI mirror sends no Cache-Control, so uv fetches the page again, as we do).
What is ours around it is cut down: one process for every image, index pages fetched once,
foreign wheels dropped before parsing, hashes from the index, METADATA and evaluated pages
cached (lock/driver.py).

Where uv pins another version than the lock, the reason is printed under the table, read from
what the indexes list for the robot (uvpins.py: on this machine, demo-arm64's numpy and scipy).
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import benchio
import uvpins

from horus_pipeline.images import ImageSpec, all_images, load_image
from horus_pipeline.indexes import reachable_indexes
from horus_pipeline.lock import uptodate
from horus_pipeline.lock.compile import driver_cache, lock_inputs
from horus_pipeline.lock.lockfile import parse_lock

IMAGES = tuple(spec.name for spec in all_images())
TOOLS = ("horus", "resolving")  # `horus lock` as it runs, and with its memo emptied (pip-compile resolving)
UV_PLATFORM = {"x86_64": "x86_64", "aarch64": "aarch64"}


def pip_config() -> dict[str, list[str]]:
    """pip's effective index settings here (`pip config list`, PIP_* included), which uv does not read."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], check=True, capture_output=True, text=True
    ).stdout
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        option = key.split(".", 1)[-1]
        found.setdefault(option, []).extend(value.strip("'\"").split())
    return {k: list(dict.fromkeys(v)) for k, v in found.items()}


def uv_command(spec: ImageSpec, requirements: Path, output: Path, config: dict[str, list[str]]) -> list[str]:
    uv = uvpins.uv_binary()
    glibc = "_".join(map(str, spec.target.glibc))
    argv = [uv, "pip", "compile", "--quiet", str(requirements), "-o", str(output), "--generate-hashes"]
    # The interpreter named, as inside a venv (VIRTUAL_ENV): otherwise uv looks for one on PATH, and
    # pyenv's shims there cost it 0.1 s a run, which made it look slower outside `nox -s bench`.
    argv += ["--python", sys.executable]
    argv += ["--python-platform", f"{UV_PLATFORM[spec.target.arch.name]}-manylinux_{glibc}"]
    argv += ["--python-version", spec.target.python, "--index-strategy", "unsafe-best-match"]
    index_url, extra_index_urls = uv_indexes(spec, config)
    for url in index_url:
        argv += ["--index-url", url]
    for url in extra_index_urls:
        argv += ["--extra-index-url", url]
    for path in config.get("find-links", []):
        argv += ["--find-links", path]
    for path in config.get("constraint", []):
        argv += ["--constraint", path]
    return argv


def uv_indexes(spec: ImageSpec, config: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """uv's --index-url and --extra-index-url for an image: pip's configuration, then the image's reachable indexes."""
    return config.get("index-url", []), [*config.get("extra-index-url", []), *reachable_indexes(spec.indexes)]


def pin_differences(
    spec: ImageSpec, ours: dict[str, str], uv: dict[str, str], config: dict[str, list[str]]
) -> list[str]:
    """One line per package uv pins otherwise, with the reason the indexes show (uvpins.explain)."""
    indexes = uvpins.uv_index_order(*uv_indexes(spec, config))
    robot = f"{spec.target.arch.name}/{spec.target.python_tag}"
    lines = []
    for name in sorted(set(ours) | set(uv)):
        if ours.get(name) == uv.get(name):
            continue
        if name not in ours or name not in uv:
            lines.append(f"{name}: only {'ours' if name in ours else 'uv'} pins it ({ours.get(name) or uv.get(name)})")
            continue
        lines.append(uvpins.explain(name, ours[name], uv[name], indexes, spec.target.wheel_tags(), robot))
    return lines


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def timed_without_memo(argv: list[str]) -> float:
    """`timed`, with the lock's memo (lock/memo.py) and its records of runs (lock/uptodate.py) set aside
    for the run and put back after it, as they were."""
    with contextlib.ExitStack() as stack:
        for kept in (driver_cache() / "memo", uptodate.records()):
            stack.enter_context(set_aside(kept))
        return timed(argv)


@contextlib.contextmanager
def set_aside(directory: Path) -> Iterator[None]:
    aside = directory.with_name(directory.name + ".bench-aside")
    shutil.rmtree(aside, ignore_errors=True)
    if directory.exists():
        directory.rename(aside)
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if aside.exists():
            aside.rename(directory)


def ratios(samples: dict[tuple[str, str], list[float]], tool: str, image: str) -> list[float]:
    """`tool`'s time over uv's, round by round (the two ran side by side), sorted."""
    return sorted(h / u for h, u in zip(samples[(tool, image)], samples[("uv", image)], strict=True))


def bench_images(names: list[str], rounds: int, work: Path, config: dict[str, list[str]]) -> dict[str, Any]:
    """Medians per image, and for all of them: one `nox -s lock` for every image against uv run once per image."""
    specs = [load_image(name) for name in names]
    horus_out = work / "horus"
    uv_runs = {}
    for spec in specs:
        requirements = work / f"{spec.name}.in"
        requirements.write_text("\n".join(lock_inputs(spec).requirements) + "\n")
        uv_runs[spec.name] = uv_command(spec, requirements, work / f"{spec.name}.uv.txt", config)
    lock = [sys.executable, "-m", "horus_pipeline.lock", "--output-dir", str(horus_out)]
    commands = {(tool, n): [*lock, n] for n in names for tool in TOOLS}
    commands |= {("uv", n): uv_runs[n] for n in names}
    commands[("horus", "all")] = commands[("resolving", "all")] = [*lock, *names]
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in commands}
    for i in range(rounds + 1):  # round 0 warms every cache and is not counted
        for key, argv in commands.items():
            if key[0] == "uv":  # uv keeps the committed pins too
                shutil.copyfile(load_image(key[1]).lockfile, work / f"{key[1]}.uv.txt")
            seconds = timed_without_memo(argv) if key[0] == "resolving" else timed(argv)
            if i:
                samples[key].append(seconds)
    results: dict[str, Any] = {}
    for spec in specs:
        pins = parse_lock((horus_out / f"{spec.name}.txt").read_text(), horus_out / f"{spec.name}.txt").pins
        uv_pins = parse_lock((work / f"{spec.name}.uv.txt").read_text(), work / f"{spec.name}.uv.txt").pins
        ours, theirs = ({k: p.version for k, p in found.items()} for found in (pins, uv_pins))
        results[spec.name] = {
            "horus_s": statistics.median(samples[("horus", spec.name)]),
            "resolving_s": statistics.median(samples[("resolving", spec.name)]),
            "uv_s": statistics.median(samples[("uv", spec.name)]),
            "horus_ratios": ratios(samples, "horus", spec.name),
            "resolving_ratios": ratios(samples, "resolving", spec.name),
            "pins": len(pins),
            "same_pins_as_uv": ours == theirs,
            "pin_differences": pin_differences(spec, ours, theirs, config),
        }
    results["all"] = {
        "horus_s": statistics.median(samples[("horus", "all")]),
        "resolving_s": statistics.median(samples[("resolving", "all")]),
        "uv_s": sum(results[n]["uv_s"] for n in names),
        "pins": sum(results[n]["pins"] for n in names),
        "same_pins_as_uv": all(results[n]["same_pins_as_uv"] for n in names),
    }
    for r in results.values():
        for tool in TOOLS:
            r[f"{tool}_ratio"] = r[f"{tool}_s"] / r["uv_s"]
    results["samples"] = {f"{tool} {name}": values for (tool, name), values in samples.items()}
    return results


def table(results: dict[str, Any], rounds: int) -> str:
    """Per image: uv's median, then each horus variant's median, ratio to uv and that ratio's range over rounds."""
    lines = [
        f"medians of {rounds} rounds; ratio: horus / uv, its range over the rounds (each round side by side)",
        f"{'image':<12} {'uv':>7}" + "".join(f" {t:>10} {'ratio':>6} {'range':>11}" for t in TOOLS) + "  pins  same",
    ]
    for name, r in results.items():
        if name == "samples":
            continue
        row = f"{name:<12} {r['uv_s']:>6.2f}s"
        for tool in TOOLS:
            spread = r.get(f"{tool}_ratios")
            span = f"{spread[0]:.2f}-{spread[-1]:.2f}x" if spread else "-"
            row += f" {r[f'{tool}_s']:>9.2f}s {r[f'{tool}_ratio']:>5.2f}x {span:>11}"
        lines.append(f"{row} {r['pins']:>5}  {r['same_pins_as_uv']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = benchio.parser("python tests/bench/lock.py", __doc__, "dist/bench/lock.json", "2 rounds instead of 7")
    parser.add_argument("images", nargs="*", default=list(IMAGES), metavar="IMAGE", help="images to lock")
    args = parser.parse_args(argv)
    config = pip_config()
    with tempfile.TemporaryDirectory(prefix="horus-lock-bench-") as tmp:
        rounds = 2 if args.quick else 7
        results = bench_images(args.images, rounds, Path(tmp), config)
    print(table(results, rounds))
    for name, r in results.items():
        for line in r.get("pin_differences", []) if isinstance(r, dict) else []:
            print(f"{name}: {line}")
    benchio.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
