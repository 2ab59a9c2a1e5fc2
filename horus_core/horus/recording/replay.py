"""Upstream's replay API over a flight recording (horus.recording.recorder): what recorded nodes sent,
published again on live topics at the recorded times.

``Scheduler.replay_from(DIR)`` replays every node of a recording; ``sched.add_replay(DIR,
node="lidar")`` replays one node's outputs while the scheduler's own nodes run live, so a new
controller meets the sensor data of 3:01 AM. A replayed node keeps its recorded name, so a
live node of the same name is refused (ValueError) rather than publishing twice.

Seeking (``start_at_tick``, ``stop_at_tick``) is in the recorded nodes' tick numbers, turned
into a time window: the replay starts when the first record of a tick >= start began and
ends before the first record of a tick > stop, for every node of the replay alike, so their
outputs keep their recorded interleaving. ``set_replay_speed(0.5)`` plays at half speed on
the scheduler's clock (the virtual one when deterministic). ``set_replay_override(node,
topic, value)`` publishes `value` instead of each recorded message of that node on that topic
(what-if testing). The scheduler stops by itself one recorded period after the last record.

Not the same as ``Scheduler.replay(DIR)``, which runs the scheduler's own node code through
the recorded inputs and reports where its outputs differ.
"""

from __future__ import annotations

import itertools
import os
import statistics
from pathlib import Path
from typing import Any

from ..errors import HorusNotFoundError
from ..messaging import codec
from ..messaging.topic import DEFAULT_MAX_MSG_SIZE, Topic
from ..runtime import clock
from ..runtime.node import Node
from ..runtime.nodeinfo import NodeInfo
from .recorder import TickRecord, load

NS = 1_000_000_000
MIN_SPEED, MAX_SPEED = 0.01, 100.0


def recording_directory(path: str | os.PathLike[str]) -> Path:
    """A recording's directory, also when given one of its segment files."""
    path = Path(path)
    return path.parent if path.is_file() else path


class ReplaySession:
    """Every replayed node of one scheduler, and the settings they share."""

    def __init__(self) -> None:
        self.nodes: list[ReplayNode] = []
        self.speed = 1.0
        self.start_tick: int | None = None
        self.stop_tick: int | None = None
        self.overrides: dict[tuple[str, str], bytes] = {}

    def add(self, path: str | os.PathLike[str], priority: int, node: str | None) -> list[ReplayNode]:
        by_node: dict[str, list[TickRecord]] = {}
        for record in load(recording_directory(path)):
            by_node.setdefault(record.node, []).append(record)
        if node is not None:
            if node not in by_node:
                raise HorusNotFoundError(f"no node {node!r} in the recording {path} (nodes: {', '.join(by_node)})")
            by_node = {node: by_node[node]}
        added = [ReplayNode(name, records, self, priority) for name, records in by_node.items()]
        self.nodes.extend(added)
        return added

    def set_speed(self, speed: float) -> None:
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"set_replay_speed({speed!r}): the speed is a factor from {MIN_SPEED} to {MAX_SPEED}")
        self.speed = speed

    def override(self, node: str, topic: str, value: Any) -> None:
        replayed = next((n for n in self.nodes if n.name == node), None)
        if replayed is None:
            names = ", ".join(n.name for n in self.nodes) or "none: call add_replay or replay_from first"
            raise HorusNotFoundError(f"set_replay_override: no replayed node {node!r} (replayed: {names})")
        if topic not in replayed.topics:
            raise HorusNotFoundError(
                f"set_replay_override: node {node!r} sent nothing on {topic!r} (it sent on {sorted(replayed.topics)})"
            )
        self.overrides[node, topic] = codec.encode_bytes(value)

    def window(self) -> tuple[int, int | None]:
        """The replayed span of recorded time [start, end) in ns (end None: to the end)."""
        records = [r for n in self.nodes for r in n.records]
        start = min((r.t_ns for r in records if self.start_tick is None or r.tick >= self.start_tick), default=0)
        after = [r.t_ns for r in records if self.stop_tick is not None and r.tick > self.stop_tick]
        return start, min(after) if after else None

    def finished(self) -> bool:
        return all(n.done for n in self.nodes)


class ReplayNode(Node):
    """One recorded node: publishes its recorded sends when the replay clock reaches them."""

    def __init__(self, name: str, records: list[TickRecord], session: ReplaySession, priority: int) -> None:
        gaps = [b.t_ns - a.t_ns for a, b in itertools.pairwise(records) if b.t_ns > a.t_ns]
        self.period_ns = int(statistics.median(gaps)) if gaps else NS // 100
        super().__init__(name=name, rate=NS / self.period_ns, order=priority, failure_policy="fatal")
        self.records = records
        self.topics = {topic for r in records for topic, _ in r.sent}
        self.session = session
        self.done = False
        self._pending: list[TickRecord] = []
        self._next = 0
        self._origin = 0  # recorded time at the scheduler's start
        self._end = 0  # recorded time at which this node is done
        self._out: dict[str, Topic] = {}

    def init(self, info: NodeInfo | None = None) -> None:
        start, end = self.session.window()
        self._pending = [r for r in self.records if r.t_ns >= start and (end is None or r.t_ns < end)]
        self._origin, self._next, self.done = start, 0, False
        last = self._pending[-1].t_ns if self._pending else start
        self._end = last + self.period_ns

    def tick(self, info: NodeInfo | None = None) -> None:
        now = self._origin + int(clock.elapsed() * NS * self.session.speed)
        while self._next < len(self._pending) and self._pending[self._next].t_ns <= now:
            for topic, payload in self._pending[self._next].sent:
                self._publish(topic, self.session.overrides.get((self.name, topic), payload))
            self._next += 1
        if now >= self._end:
            self.done = True
            if self.session.finished():
                self.request_stop()

    def shutdown(self, info: NodeInfo | None = None) -> None:
        for topic in self._out.values():
            topic.close()
        self._out.clear()

    def _publish(self, name: str, payload: bytes) -> None:
        topic = self._out.get(name)
        if topic is None:
            biggest = max(len(p) for r in self.records for t, p in r.sent if t == name)
            topic = self._out[name] = Topic(name, max_msg_size=biggest if biggest > DEFAULT_MAX_MSG_SIZE else None)
        # Decoded and sent again, not copied as bytes: the topic's codec framing is its own.
        topic.send(codec.decode(payload))
        self.messages_sent += 1
