"""`nox -s soak` on a simulated robot: a node that keeps what it allocates (a list that grows
every tick, the classic leak) is found and named within half a minute of sampling."""

from __future__ import annotations

from pathlib import Path

from deploying import bundle, copy_image, playbook, write_inventory

from horus_pipeline.fleet.inventory import load_inventory
from horus_pipeline.images import load_image
from horus_pipeline.sim.fleet import Sim
from horus_pipeline.soak.run import soak

IMAGE = "fleet-amd64"
LEAK = "KEPT = []\n", "    KEPT.append(bytearray(100_000))  # 1 MB/s at 10 Hz, never freed\n"


def test_soak_names_the_leaking_node(sim: Sim, tmp_path: Path) -> None:
    app = copy_image(IMAGE, tmp_path / "repo")
    source = (app / "beat.py").read_text()
    head, tick = source.split("def tick(node: horus.Node) -> None:\n")
    (app / "beat.py").write_text(head + LEAK[0] + "\n\ndef tick(node: horus.Node) -> None:\n" + LEAK[1] + tick)
    release = bundle(tmp_path / "repo", IMAGE, tmp_path / "bundles")
    (robot,) = sim.boot(load_image(IMAGE), 1)
    try:
        inventory = write_inventory(
            tmp_path / "inventory.yml", [robot], horus_robot_bundles_dir=str(tmp_path / "bundles")
        )
        run = playbook(inventory, [robot], "-e", f"release={release}")
        assert run.rc == 0, run.output[-3000:]
        (host,) = load_inventory(inventory)
        spec = load_image(tmp_path / "repo" / "images" / f"{IMAGE}.toml")
        result = soak(host, spec, 30, tmp_path / "soak", leak_mb_per_hour=20)
    finally:
        sim.stop([robot])
    (beat,) = result.services
    assert beat.unit == "fleet-beat.service" and beat.nodes == ["beat"]
    assert beat.leaking and beat.slope_mb_per_hour > 1000, beat
    assert "| fleet-beat.service | beat |" in (tmp_path / "soak" / "report.md").read_text()
    assert (tmp_path / "soak" / "rss.png").stat().st_size > 10_000
    print(f"soak: {beat.unit} {beat.rss_start_mb} -> {beat.rss_end_mb} MB, {beat.slope_mb_per_hour} MB/h")
