"""Process `beat` (unit fleet-beat): a 10 Hz heartbeat node and the health endpoint."""

import horus


def tick(node: horus.Node) -> None:
    node.send("fleet.beat", {"ok": True})


def main() -> None:
    sched = horus.Scheduler(tick_rate=100, name="beat")
    sched.add(horus.Node(name="beat", tick=tick, rate=10, pubs=["fleet.beat"], failure_policy="fatal"))
    horus.serve_health(sched)  # where HORUS_HEALTH_HOST/PORT say: the image's [health]
    sched.run()


if __name__ == "__main__":  # the unit runs this file; the app's tests import it
    main()
