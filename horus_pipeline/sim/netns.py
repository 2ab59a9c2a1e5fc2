"""Network of one simulated robot: a network namespace and a veth pair on a private /30.

The robot's end is `eth0` inside namespace `horus-sim-<n>` with the second address of its
/30 (a default route via the host end), so it has its own loopback and port 22 like a real
robot. The host's end carries the namespace's name and the first address. Subnets come from
198.18.0.0/15 (RFC 2544, set aside for testing network equipment), skipping any that overlap
an address or route already on the host, so the sim never shadows a real network.

Only names with PREFIX are ever created, addressed or deleted. Callers serialise allocation
with `host_lock()` (two sims, e.g. `nox -s sim` and a test run, may allocate at once).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineError
from ..proc import run

PREFIX = "horus-sim-"
NETNS_DIR = Path("/run/netns")
# Where the sim notes what it made; on tmpfs like the namespaces, so both vanish at reboot.
RUN_DIR = Path("/run/horus-sim")
POOLS = (ipaddress.IPv4Network("198.18.0.0/15"), ipaddress.IPv4Network("10.213.0.0/16"))


@dataclass(frozen=True)
class Link:
    """A robot's network: namespace `name`, host interface `name`, robot `eth0`."""

    name: str
    subnet: str  # "198.18.0.4/30"

    @property
    def host_address(self) -> str:
        return str(ipaddress.IPv4Network(self.subnet)[1])

    @property
    def robot_address(self) -> str:
        return str(ipaddress.IPv4Network(self.subnet)[2])

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name


@contextlib.contextmanager
def host_lock() -> Iterator[None]:
    """Hold the host-wide lock under which namespace names and subnets are picked."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with (RUN_DIR / "lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def namespaces() -> list[str]:
    """Our network namespaces that exist now."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(PREFIX))


def interfaces() -> list[str]:
    """Our host-side interfaces that exist now."""
    out = run(["ip", "-j", "link", "show"], what="ip link show").stdout
    return sorted(i["ifname"] for i in json.loads(out) if i.get("ifname", "").startswith(PREFIX))


def free_name(taken: set[str]) -> str:
    """The lowest `horus-sim-<n>` with no namespace, interface or claim (`taken`) of that name."""
    busy = set(namespaces()) | set(interfaces()) | taken
    n = 0
    while f"{PREFIX}{n}" in busy:
        n += 1
    return f"{PREFIX}{n}"


def _host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host has an address or a (non-default) route in."""
    nets = []
    for argv in (["ip", "-j", "-4", "addr", "show"], ["ip", "-j", "-4", "route", "show", "table", "all"]):
        for row in json.loads(run(argv, what=" ".join(argv)).stdout or b"[]"):
            if "addr_info" in row:
                nets += [
                    ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False) for a in row["addr_info"]
                ]
            elif row.get("dst") not in (None, "default"):
                with contextlib.suppress(ValueError):
                    nets.append(ipaddress.IPv4Network(row["dst"], strict=False))
    return nets


def free_subnet(claimed: set[str]) -> str:
    """A /30 from POOLS that overlaps nothing on the host and no claim in `claimed`."""
    used = _host_networks() + [ipaddress.IPv4Network(c) for c in claimed]
    for pool in POOLS:
        if any(pool.subnet_of(u) for u in used if u.prefixlen < pool.prefixlen):
            continue  # the whole pool is routed somewhere already
        for subnet in pool.subnets(new_prefix=30):
            if not any(subnet.overlaps(u) for u in used):
                return str(subnet)
    raise PipelineError(
        f"no free /30 left for a simulated robot in {', '.join(map(str, POOLS))}: "
        "stop robots with `nox -s sim -- --stop`"
    )


def create(link: Link) -> None:
    """Make the namespace, the veth pair and the addresses; undo what was made if a step fails."""
    if not link.name.startswith(PREFIX):
        raise ValueError(f"not one of ours: {link.name}")
    try:
        run(["ip", "netns", "add", link.name], what=f"creating network namespace {link.name}")
        ns = ["ip", "-n", link.name]
        for argv in (
            ["ip", "link", "add", link.name, "type", "veth", "peer", "name", "eth0", "netns", link.name],
            ["ip", "addr", "add", f"{link.host_address}/30", "dev", link.name],
            ["ip", "link", "set", link.name, "up"],
            [*ns, "addr", "add", f"{link.robot_address}/30", "dev", "eth0"],
            [*ns, "link", "set", "eth0", "up"],
            [*ns, "link", "set", "lo", "up"],
            [*ns, "route", "add", "default", "via", link.host_address],
        ):
            run(argv, what=f"setting up the network of {link.name}")
    except PipelineError as err:
        destroy(link.name)
        raise PipelineError(
            f"{err}\nveth pairs and network namespaces need root and a kernel with veth "
            "(modprobe veth); no Docker-style unprivileged container"
        ) from err


def destroy(name: str) -> None:
    """Remove our namespace and interface `name`, whatever of them exists (idempotent)."""
    if not name.startswith(PREFIX):
        raise ValueError(f"not one of ours: {name}")
    if name in interfaces():
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
    if (NETNS_DIR / name).exists():
        run(["ip", "netns", "del", name], what=f"deleting network namespace {name}")
