"""`nox -s soak -- IMAGE --minutes N`: run an image's release on a robot for N minutes and say
whether any node process leaks memory, misses deadlines, errs or restarts.

The robot is one of an inventory (`-i INVENTORY --limit HOST`, already deployed), or by default
a simulated robot booted for the run and deployed with the README's playbook from the built bundle
(`nox -s build` first), stopped afterwards. One SSH session streams a sample a second
(sampler.py, run on the robot as the service user with the release's Python); the report goes to
dist/soak/<image>/: report.md (also printed), report.json, rss.png, samples.jsonl.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import REPO
from ..console import info, run_cli, step
from ..errors import PipelineError
from ..fleet.inventory import Host, load_inventory, ssh_argv
from ..images import ImageSpec, load_image
from . import analysis, report

SAMPLER = Path(__file__).with_name("sampler.py")
OUT = REPO / "dist" / "soak"
DEFAULT_LEAK = 20.0  # MB/hour: a node process that grows faster will not last a month on a robot


def units_of(spec: ImageSpec) -> list[str]:
    return [spec.layout.unit(s.name) for s in spec.services]


def sample(host: Host, spec: ImageSpec, seconds: float, log: Path) -> list[dict[str, Any]]:
    """Stream samples from the robot for `seconds` into `log` (one JSON line each) and return them."""
    remote = [
        "runuser", "-u", spec.user, "--", "env", f"HORUS_NAMESPACE={spec.layout.namespace}",
        spec.layout.venv_python, "-", str(seconds), *units_of(spec),
    ]  # fmt: skip
    argv = ssh_argv(host, remote, connect_timeout=10)
    samples: list[dict[str, Any]] = []
    with log.open("w") as out, step(f"sampling {host.name} for {seconds / 60:.1f} min"):
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(SAMPLER.read_text())
        proc.stdin.close()
        last = time.monotonic()
        for line in proc.stdout:
            samples.append(json.loads(line))
            out.write(line)
            if time.monotonic() - last >= 60:
                last = time.monotonic()
                info(f"  {samples[-1]['t'] / 60:.0f} of {seconds / 60:.0f} min sampled")
        err = proc.stderr.read() if proc.stderr else ""
        if proc.wait() != 0:
            raise PipelineError(f"sampling {host.name} failed (exit {proc.returncode}): {err.strip()[-800:]}")
    return samples


def soak(host: Host, spec: ImageSpec, seconds: float, out: Path, leak_mb_per_hour: float) -> analysis.SoakResult:
    """Sample, analyse, and write the report files under `out`; the result."""
    out.mkdir(parents=True, exist_ok=True)
    samples = sample(host, spec, seconds, out / "samples.jsonl")
    units = units_of(spec)
    result = analysis.analyse(samples, units, leak_mb_per_hour)
    text = report.render_markdown(spec.name, host.name, result)
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(report.render_json(spec.name, host.name, result))
    report.plot(samples, units, f"{spec.name} on {host.name}", out / "rss.png")
    print(text)
    return result


def _sim_robot(spec: ImageSpec) -> tuple[Host, Any]:
    """Boot a simulated robot of `spec` and deploy the built bundle to it (the README's playbook)."""
    from ..sim.deploy import ANSIBLE, ansible_env, ansible_playbook
    from ..sim.fleet import DEFAULT_DIR, Sim

    sim = Sim(DEFAULT_DIR)
    (robot,) = sim.boot(spec, 1)
    try:
        with step(f"deploying {spec.name}'s built release to {robot.name}"):
            subprocess.run(
                [ansible_playbook(), "-i", str(sim.inventory), "--limit", robot.name, str(ANSIBLE / "deploy.yml")],
                env=ansible_env(), cwd=REPO, check=True, capture_output=True, text=True,
            )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        sim.stop([robot])
        raise PipelineError(f"deploying {spec.name} to {robot.name} failed:\n{exc.stdout[-3000:]}") from None
    (host,) = load_inventory(sim.inventory, robot.name)
    return host, (sim, robot)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s soak --",
        description="Run an image's release on a robot for a while and report, per node process, the RSS slope "
        "(MB/hour; a leak above --leak), tick-time percentiles, deadline misses, errors and restarts, with a PNG "
        "of RSS and tick time. Without -i, a simulated robot is booted, given the built bundle (nox -s build) "
        "and stopped afterwards.",
        epilog="Examples: `nox -s soak -- demo-amd64 --minutes 10`, "
        "`nox -s soak -- demo-arm64 --minutes 60 -i inventory.yml --limit jetson-01`.",
    )
    parser.add_argument("image", metavar="IMAGE", help="robot image (images/<name>.toml)")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to sample (default 5)")
    parser.add_argument("-i", "--inventory", type=Path, help="an inventory whose robot already runs the image")
    parser.add_argument("--limit", metavar="HOST", help="the inventory's robot to soak (default: its first)")
    parser.add_argument(
        "--leak", type=float, default=DEFAULT_LEAK, metavar="MB_PER_HOUR",
        help=f"RSS growth that counts as a leak (default {DEFAULT_LEAK:g} MB/hour)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="report directory (default dist/soak/IMAGE)")
    args = parser.parse_args(argv)

    def body() -> int:
        spec = load_image(args.image)
        booted = None
        if args.inventory:
            hosts = load_inventory(args.inventory, args.limit)
            if not hosts:
                raise PipelineError(f"{args.inventory} has no robot {args.limit or ''}".strip())
            host = hosts[0]
        else:
            host, booted = _sim_robot(spec)
        try:
            result = soak(host, spec, args.minutes * 60, args.out or OUT / spec.name, args.leak)
        finally:
            if booted is not None:
                booted[0].stop([booted[1]])
        return 1 if result.leaking or any(s.restarts for s in result.services) else 0

    return run_cli(body)
