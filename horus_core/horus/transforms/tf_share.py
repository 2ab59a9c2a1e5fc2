"""Sharing a TransformFrame tree with every process of the namespace: ``TransformFrame(share="tf")``.

Each sharing tree publishes its own changes on a topic of its own, ``tf.<share>.<pid>-<n>``
(one publisher process per topic, as every topic), and reads every other such topic of the
namespace before it answers a question. Messages are plain data:

    ["frame", name, parent]                     a frame was registered here
    ["static", name, [tx, ty, tz, qx, qy, qz, qw]]
    ["tf", name, stamp_ns, [tx, ty, tz, qx, qy, qz, qw]]
    ["state", [[name, parent], ...], [[name, T], ...] static, [[name, stamp, T], ...] newest]

A reader attached to a topic sees only what is published after it attached, so each tree
also sends its whole state (what it registered, its statics, its newest transform of each
frame it updates) as one "state" message when it sees a new tree appear and once a second:
a process that joins late, or restarts, has the whole tree within about a second.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import TYPE_CHECKING, Any

from ..messaging import namespace
from ..messaging.topic import Topic
from .transform import Transform

if TYPE_CHECKING:
    from .transform_frame import TransformFrame

_RESCAN_S = 0.1  # how often the namespace is listed for trees that joined since
_STATE_S = 1.0  # how often the whole state is sent again, for readers that attached late
_ids = itertools.count()


def _pack(t: Transform) -> list[float]:
    return [*t.translation, *t.rotation]


def _unpack(values: list[float]) -> Transform:
    return Transform(values[:3], values[3:])


class Share:
    """One tree's link to the namespace: its own topic out, every peer's topic in."""

    def __init__(self, share: str, ns: str | None = None) -> None:
        self._ns = ns or namespace.current()
        self._prefix = f"tf.{share}."
        self.own_name = f"{self._prefix}{os.getpid()}-{next(_ids)}"
        self._out = Topic(self.own_name, namespace=self._ns)
        self._peers: dict[str, Topic] = {}
        self._scanned = self._stated = 0.0

    def frame(self, name: str, parent: str | None) -> None:
        self._out.send(["frame", name, parent])

    def static(self, name: str, transform: Transform) -> None:
        self._out.send(["static", name, _pack(transform)])

    def transform(self, name: str, stamp: int, transform: Transform) -> None:
        self._out.send(["tf", name, stamp, _pack(transform)])

    def sync(self, tree: TransformFrame) -> None:
        """Apply every peer's news to `tree`; send `tree`'s state when a peer appeared or a second passed."""
        now = time.monotonic()
        if now - self._scanned >= _RESCAN_S:
            self._scanned = now
            if self._discover() or now - self._stated >= _STATE_S:
                self._stated = now
                frames, statics, newest = tree._owned_state()
                self._out.send(["state", frames, [[n, _pack(t)] for n, t in statics],
                                [[n, s, _pack(t)] for n, s, t in newest]])  # fmt: skip
        for topic in list(self._peers.values()):
            for message in topic.recv_all():
                self._apply(tree, message)

    def close(self) -> None:
        for topic in [self._out, *self._peers.values()]:
            topic.close()
        self._peers.clear()

    def _discover(self) -> bool:
        """Attach to trees that appeared since the last look; True if there were any."""
        prefix = namespace.topic_file(self._prefix)
        try:
            files = os.listdir(namespace.topics_dir(self._ns))
        except FileNotFoundError:
            return False
        # The prefix escapes to itself and "<pid>-<n>" adds only safe characters: file name == topic name.
        new = [f for f in files if f.startswith(prefix) and f != self.own_name and f not in self._peers]
        for file in new:
            self._peers[file] = Topic(file, namespace=self._ns)
        return bool(new)

    @staticmethod
    def _apply(tree: TransformFrame, message: list[Any]) -> None:
        kind = message[0]
        if kind == "frame":
            tree._remote_frame(message[1], message[2])
        elif kind == "static":
            tree._remote_static(message[1], _unpack(message[2]))
        elif kind == "tf":
            tree._remote_transform(message[1], int(message[2]), _unpack(message[3]))
        elif kind == "state":
            for name, parent in message[1]:
                tree._remote_frame(name, parent)
            for name, values in message[2]:
                tree._remote_static(name, _unpack(values))
            for name, stamp, values in message[3]:
                tree._remote_transform(name, int(stamp), _unpack(values))
