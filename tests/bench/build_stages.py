"""Build benchmark: what `nox -s build` runs, cold and warm, stage by stage, over repeated rounds.

    nox -s bench            (or: python tests/bench/build_stages.py --json dist/bench/build_stages.json)

Each round builds every image's core wheels and bundles twice in a scratch directory: cold
(an empty pipeline cache, no core wheel; pip's own cache and the index as they are, as on a
machine that ran pip before) and warm (the same again, nothing changed). The commands are the
build session's (`python -m horus_pipeline.core`, `python -m horus_pipeline.bundle`) in this
environment: nox's own start and its environment check are not in these figures (measure them
with `time nox -s build` and `time nox -R -s build`). The stages are the ones the bundle prints
at its end (`--timings`); the table shows each stage's median and its range over the rounds,
because these machines are shared. Goals (issue 31): cold under 120 s, warm under 3 s, on 2 cores.

The figures to quote are all images, 3 rounds, on a quiet machine (a cold round is a whole build
on both cores): `python tests/bench/build_stages.py`. `--images fleet-amd64 --quick` checks the
script itself in seconds (one small image, one round): its times say nothing about the goals.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchio


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr}")
    return time.perf_counter() - t0


def one_build(work: Path, env: dict[str, str], images: list[str]) -> dict[str, float]:
    """Seconds of one `nox -s build`'s two commands in `work`: core wheels, then each bundle stage."""
    wheels, timings = work / "wheels", work / "timings.json"
    py = [sys.executable, "-m"]
    seconds = {"core wheels": timed([*py, "horus_pipeline.core", "--out", str(wheels)], env)}
    bundle = [*py, "horus_pipeline.bundle", *images, "--unsigned", "--out", str(work / "bundles")]
    wall = timed([*bundle, "--core-wheels", str(wheels), "--timings", str(timings)], env)
    stages: dict[str, float] = json.loads(timings.read_text())["stages"]
    seconds.update(stages)
    seconds["bundle: start, imports, rest"] = wall - sum(stages.values())
    seconds["total"] = seconds["core wheels"] + wall
    return seconds


def rounds(count: int, images: list[str]) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for _ in range(count):
        with tempfile.TemporaryDirectory(prefix="horus-build-bench-") as tmp:
            env = {**os.environ, "HORUS_CACHE": str(Path(tmp) / "cache")}
            runs["cold"].append(one_build(Path(tmp), env, images))
            runs["warm"].append(one_build(Path(tmp), env, images))
    return runs


def summary(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    stages = list(dict.fromkeys(name for run in samples for name in run))
    out = {}
    for name in stages:
        values = [run.get(name, 0.0) for run in samples]
        out[name] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = benchio.parser(
        "python tests/bench/build_stages.py", __doc__, "dist/bench/build_stages.json", "1 round instead of 3"
    )
    parser.add_argument("--images", nargs="+", default=[], metavar="IMAGE", help="bundle only these (default: all)")
    args = parser.parse_args(argv)
    runs = rounds(1 if args.quick else 3, args.images)
    results: dict[str, Any] = {kind: summary(samples) for kind, samples in runs.items()}
    results["samples"] = runs
    results["cpus"] = len(os.sched_getaffinity(0))
    which = ", ".join(args.images) or "every image"
    count, cpus = len(runs["cold"]), results["cpus"]
    print(f"build stages of {which} over {count} round(s), {cpus} cores: median (min-max) seconds")
    print(f"{'stage':<40} {'cold':>22} {'warm':>22}")
    for name in results["cold"]:
        cells = []
        for kind in ("cold", "warm"):
            s = results[kind].get(name)
            cells.append(f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})" if s else "-")
        print(f"{name:<40} {cells[0]:>22} {cells[1]:>22}")
    if args.quick or args.images:
        print("a check of the script, not the goals: measure with `python tests/bench/build_stages.py` quietly")
    benchio.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
