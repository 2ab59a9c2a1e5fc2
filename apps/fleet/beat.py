"""Process `beat` (unit fleet-beat): a 10 Hz heartbeat node and the health endpoint."""

import os

import horus

HOST = os.environ.get("FLEET_HEALTH_HOST", "127.0.0.1")
PORT = int(os.environ.get("FLEET_HEALTH_PORT", "8080"))


def tick(node: horus.Node) -> None:
    node.send("fleet.beat", {"ok": True})


sched = horus.Scheduler(tick_rate=100, name="beat")
sched.add(horus.Node(name="beat", tick=tick, rate=10, pubs=["fleet.beat"]))
horus.serve_health(sched, host=HOST, port=PORT)
sched.run()
