"""The fleet app's own tests: `nox -s upgrade` runs them on each robot with the release's Python
(no pytest there: plain functions named test_*, plain asserts)."""

import beat


class Node:
    """Records what a tick sends, as the scheduler's node would publish it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    def send(self, topic: str, message: object) -> None:
        self.sent.append((topic, message))


def test_each_tick_sends_one_heartbeat() -> None:
    node = Node()
    beat.tick(node)  # type: ignore[arg-type]
    beat.tick(node)  # type: ignore[arg-type]
    assert node.sent == [("fleet.beat", {"ok": True})] * 2, node.sent
