"""Build benchmark: what `nox -s build` runs, cold and warm, stage by stage, over repeated rounds.

    nox -s bench            (or: python tests/bench/build.py --json dist/bench/build.json)

Each round builds every image's core wheels and bundles twice in a scratch directory: cold
(an empty pipeline cache, no core wheel; pip's own cache and the index as they are, as on a
machine that ran pip before) and warm (the same again, nothing changed). The commands are the
build session's (`python -m horus_pipeline.core`, `python -m horus_pipeline.bundle`) in this
environment: nox's own start and its environment check are not in these figures (measure them
with `time nox -s build` and `time nox -R -s build`). The stages are the ones the bundle prints
at its end (`--timings`); the table shows each stage's median and its range over the rounds,
because these machines are shared. Goals (issue 31): cold under 120 s, warm under 3 s, on 2 cores.
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


def one_build(work: Path, env: dict[str, str]) -> dict[str, float]:
    """Seconds of one `nox -s build`'s two commands in `work`: core wheels, then each bundle stage."""
    wheels, timings = work / "wheels", work / "timings.json"
    py = [sys.executable, "-m"]
    seconds = {"core wheels": timed([*py, "horus_pipeline.core", "--out", str(wheels)], env)}
    bundle = [*py, "horus_pipeline.bundle", "--unsigned", "--out", str(work / "bundles")]
    wall = timed([*bundle, "--core-wheels", str(wheels), "--timings", str(timings)], env)
    stages: dict[str, float] = json.loads(timings.read_text())["stages"]
    seconds.update(stages)
    seconds["bundle: start, imports, rest"] = wall - sum(stages.values())
    seconds["total"] = seconds["core wheels"] + wall
    return seconds


def rounds(count: int) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for _ in range(count):
        with tempfile.TemporaryDirectory(prefix="horus-build-bench-") as tmp:
            env = {**os.environ, "HORUS_CACHE": str(Path(tmp) / "cache")}
            runs["cold"].append(one_build(Path(tmp), env))
            runs["warm"].append(one_build(Path(tmp), env))
    return runs


def summary(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    stages = list(dict.fromkeys(name for run in samples for name in run))
    out = {}
    for name in stages:
        values = [run.get(name, 0.0) for run in samples]
        out[name] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = benchio.parser("python tests/bench/build.py", __doc__, "dist/bench/build.json", "1 round instead of 3")
    args = parser.parse_args(argv)
    runs = rounds(1 if args.quick else 3)
    results: dict[str, Any] = {kind: summary(samples) for kind, samples in runs.items()}
    results["samples"] = runs
    results["cpus"] = len(os.sched_getaffinity(0))
    print(f"build stages over {len(runs['cold'])} round(s), {results['cpus']} cores: median (min-max) seconds")
    print(f"{'stage':<32} {'cold':>22} {'warm':>22}")
    for name in results["cold"]:
        cells = []
        for kind in ("cold", "warm"):
            s = results[kind].get(name)
            cells.append(f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})" if s else "-")
        print(f"{name:<32} {cells[0]:>22} {cells[1]:>22}")
    benchio.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
