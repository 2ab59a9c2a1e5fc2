"""horus.TransformFrame: a tree of coordinate frames with timestamped transforms, as upstream HORUS's.

Each frame but a root has a parent and a short history of (timestamp_ns, transform from
the frame to its parent). ``tf(src, dst)`` maps points of `src` into `dst` by walking both
frames up to their common ancestor; ``tf_at`` does so at a past time, interpolating each
link between the two samples around it (slerp for rotation). Static frames hold one
transform for all time. Thread-safe: nodes on worker threads may update and look up.

Errors: an unknown frame is HorusNotFoundError; frames in different trees, or no sample
near the asked time, HorusTransformError; wait_for_transform running out, HorusTimeoutError.

``TransformFrame(share="tf")`` shares the tree with every process of the namespace that
opens the same name (horus.transforms.tf_share): frames, static transforms and updates made in one
process are seen by the others' lookups.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..errors import HorusNotFoundError, HorusTimeoutError, HorusTransformError
from ..runtime import clock
from . import frame_report
from .tf_share import Share
from .transform import Transform

NS = 1_000_000_000


class TransformFrameConfig:
    """How many frames a tree holds and how many past samples each frame keeps."""

    def __init__(self, max_frames: int = 256, history_len: int = 32) -> None:
        if max_frames < 1 or history_len < 1:
            raise ValueError(f"max_frames and history_len must be at least 1 (got {max_frames}, {history_len})")
        self._max_frames, self._history_len = max_frames, history_len

    @staticmethod
    def small() -> TransformFrameConfig:
        return TransformFrameConfig(256, 32)

    @staticmethod
    def medium() -> TransformFrameConfig:
        return TransformFrameConfig(1024, 32)

    @staticmethod
    def large() -> TransformFrameConfig:
        return TransformFrameConfig(4096, 32)

    @staticmethod
    def massive() -> TransformFrameConfig:
        return TransformFrameConfig(16384, 32)

    @property
    def max_frames(self) -> int:
        return self._max_frames

    @property
    def history_len(self) -> int:
        return self._history_len

    def memory_estimate(self) -> str:
        # A sample is a timestamp and 7 floats; a frame, its name and links besides.
        kib = self._max_frames * (self._history_len * 64 + 256) / 1024
        return f"{kib / 1024:.1f} MB" if kib >= 1024 else f"{kib:.0f} KB"

    def __repr__(self) -> str:
        return f"TransformFrameConfig(max_frames={self._max_frames}, history_len={self._history_len})"


@dataclass
class _Frame:
    name: str
    id: int
    parent: str | None
    static: Transform | None = None
    stamps: deque[int] = field(default_factory=deque)
    samples: deque[Transform] = field(default_factory=deque)
    updated_at: float | None = None  # time.monotonic() of the last update, for staleness


class TransformFrame:
    """The frame tree. ``register_frame("base_link", parent="world")``, ``update_transform``, ``tf``."""

    def __init__(self, config: TransformFrameConfig | None = None, *, share: str | None = None) -> None:
        self._config = config or TransformFrameConfig()
        self._frames: dict[str, _Frame] = {}
        self._by_id: dict[int, str] = {}
        self._next_id = 0
        self._lock = threading.Condition()
        self._owned: dict[str, None] = {}  # frames registered here, in order (parents first)
        self._updated: dict[str, None] = {}  # frames whose transforms are set here
        self._share = Share(share) if share else None

    def close(self) -> None:
        """Stop sharing (a tree made with share=); the frames stay."""
        if self._share is not None:
            self._share.close()
            self._share = None

    def _sync(self) -> None:
        if self._share is not None:
            self._share.sync(self)

    @staticmethod
    def small() -> TransformFrame:
        return TransformFrame(TransformFrameConfig.small())

    @staticmethod
    def medium() -> TransformFrame:
        return TransformFrame(TransformFrameConfig.medium())

    @staticmethod
    def large() -> TransformFrame:
        return TransformFrame(TransformFrameConfig.large())

    @staticmethod
    def massive() -> TransformFrame:
        return TransformFrame(TransformFrameConfig.massive())

    # -- frames ----------------------------------------------------------------------

    def register_frame(self, name: str, parent: str | None = None) -> int:
        """Add `name` under `parent` (None: a root); returns its id. Again with the same parent: a no-op."""
        self._sync()
        with self._lock:
            frame = self._frames.get(name)
            if frame is not None:
                if frame.parent != parent:
                    raise ValueError(f"frame {name!r} is already registered under {frame.parent!r}, not {parent!r}")
                return frame.id
            if parent is not None:
                self._frame(parent)
            frame_id = self._add(name, parent)
            self._owned[name] = None
        if self._share is not None:
            self._share.frame(name, parent)
        return frame_id

    def _add(self, name: str, parent: str | None) -> int:
        if len(self._frames) >= self._config.max_frames:
            raise ValueError(f"the tree is full ({self._config.max_frames} frames): use a larger TransformFrameConfig")
        frame = _Frame(name, self._next_id, parent)
        self._next_id += 1
        self._frames[name], self._by_id[frame.id] = frame, name
        self._lock.notify_all()
        return frame.id

    def register_static_frame(self, name: str, transform: Transform, parent: str | None = None) -> int:
        frame_id = self.register_frame(name, parent)
        self.set_static_transform(name, transform)
        return frame_id

    def unregister_frame(self, name: str) -> None:
        with self._lock:
            self._frame(name)
            children = [f.name for f in self._frames.values() if f.parent == name]
            if children:
                raise ValueError(f"frame {name!r} still has children {children}: unregister them first")
            frame = self._frames.pop(name)
            del self._by_id[frame.id]

    def frame_id(self, name: str) -> int | None:
        frame = self._frames.get(name)
        return frame.id if frame else None

    def frame_name(self, id: int) -> str | None:  # upstream's parameter name
        return self._by_id.get(id)

    def has_frame(self, name: str) -> bool:
        self._sync()
        return name in self._frames

    def all_frames(self) -> list[str]:
        self._sync()
        return list(self._frames)

    def frame_count(self) -> int:
        self._sync()
        return len(self._frames)

    def parent(self, name: str) -> str | None:
        self._sync()
        return self._frame(name).parent

    def children(self, name: str) -> list[str]:
        self._sync()
        self._frame(name)
        return [f.name for f in list(self._frames.values()) if f.parent == name]

    # -- updates ---------------------------------------------------------------------

    def update_transform(self, name: str, transform: Transform, timestamp_ns: int | None = None) -> None:
        """`transform` maps points of `name` into its parent, from `timestamp_ns` (default: horus.timestamp_ns())."""
        stamp = clock.timestamp_ns() if timestamp_ns is None else int(timestamp_ns)
        self._sync()  # also answers peers: a process that only publishes transforms must still be heard
        with self._lock:
            frame = self._frame(name)
            if frame.parent is None:
                raise ValueError(f"frame {name!r} is a root: it has no parent to be placed in")
            if frame.static is not None:
                raise ValueError(f"frame {name!r} is static: use set_static_transform")
            self._insert(frame, stamp, transform)
            self._updated[name] = None
        if self._share is not None:
            self._share.transform(name, stamp, transform)

    def _insert(self, frame: _Frame, stamp: int, transform: Transform) -> None:
        at = bisect.bisect_right(frame.stamps, stamp)  # out-of-order samples still land in time order
        if at and frame.stamps[at - 1] == stamp:  # the same sample again (a peer's state repeats it)
            frame.samples[at - 1] = transform
            return
        frame.stamps.insert(at, stamp)
        frame.samples.insert(at, transform)
        while len(frame.stamps) > self._config.history_len:
            frame.stamps.popleft()
            frame.samples.popleft()
        frame.updated_at = time.monotonic()
        self._lock.notify_all()

    def update_transform_by_id(self, frame_id: int, transform: Transform, timestamp_ns: int | None = None) -> None:
        name = self._by_id.get(frame_id)
        if name is None:
            raise HorusNotFoundError(f"no frame with id {frame_id}")
        self.update_transform(name, transform, timestamp_ns)

    def set_static_transform(self, name: str, transform: Transform) -> None:
        self._sync()
        with self._lock:
            self._set_static(self._frame(name), transform)
            self._updated[name] = None
        if self._share is not None:
            self._share.static(name, transform)

    def _set_static(self, frame: _Frame, transform: Transform) -> None:
        frame.static, frame.updated_at = transform, time.monotonic()
        frame.stamps.clear()
        frame.samples.clear()
        self._lock.notify_all()

    # -- what peers sharing the tree send (horus.transforms.tf_share); never published again --------------

    def _remote_frame(self, name: str, parent: str | None) -> None:
        with self._lock:
            # A child whose parent has not arrived yet comes again with its owner's next state.
            if name not in self._frames and (parent is None or parent in self._frames):
                self._add(name, parent)

    def _remote_static(self, name: str, transform: Transform) -> None:
        with self._lock:
            if name in self._frames:
                self._set_static(self._frames[name], transform)

    def _remote_transform(self, name: str, stamp: int, transform: Transform) -> None:
        with self._lock:
            frame = self._frames.get(name)
            if frame is not None and frame.static is None and frame.parent is not None:
                self._insert(frame, stamp, transform)

    def _owned_state(self) -> tuple[list[list[Any]], list[tuple[str, Transform]], list[tuple[str, int, Transform]]]:
        """What this tree registered and set, for a peer that attached late."""
        with self._lock:
            frames = [[n, self._frames[n].parent] for n in self._owned if n in self._frames]
            updated = [self._frames[n] for n in self._updated if n in self._frames]
            statics = [(f.name, f.static) for f in updated if f.static is not None]
            newest = [(f.name, f.stamps[-1], f.samples[-1]) for f in updated if f.static is None and f.samples]
            return frames, statics, newest

    # -- lookups ---------------------------------------------------------------------

    def tf(self, src: str, dst: str) -> Transform:
        """The newest transform mapping points of `src` into `dst`."""
        return self._lookup(src, dst, None, None)

    def tf_at(self, src: str, dst: str, timestamp_ns: int) -> Transform:
        """At `timestamp_ns`, interpolated; outside a link's history its nearest sample is used."""
        return self._lookup(src, dst, int(timestamp_ns), None)

    def tf_at_with_tolerance(self, src: str, dst: str, timestamp_ns: int, tolerance_ns: int = 100_000_000) -> Transform:
        """As tf_at, but HorusTransformError when a link's history ends more than `tolerance_ns` from that time."""
        return self._lookup(src, dst, int(timestamp_ns), int(tolerance_ns))

    def tf_at_strict(self, src: str, dst: str, timestamp_ns: int) -> Transform:
        """As tf_at, but only within every link's history (no extrapolation at all)."""
        return self._lookup(src, dst, int(timestamp_ns), 0)

    def tf_by_id(self, src: int, dst: int) -> Transform | None:
        names = self._by_id.get(src), self._by_id.get(dst)
        if names[0] is None or names[1] is None or not self.can_transform(names[0], names[1]):
            return None
        return self.tf(names[0], names[1])

    def can_transform(self, src: str, dst: str) -> bool:
        return self._can(lambda: self.tf(src, dst))

    def can_transform_at(self, src: str, dst: str, timestamp_ns: int) -> bool:
        return self._can(lambda: self.tf_at_strict(src, dst, timestamp_ns))

    def can_transform_at_with_tolerance(self, src: str, dst: str, timestamp_ns: int, tolerance_ns: int) -> bool:
        return self._can(lambda: self.tf_at_with_tolerance(src, dst, timestamp_ns, tolerance_ns))

    def transform_point(self, src: str, dst: str, point: Sequence[float]) -> list[float]:
        return self.tf(src, dst).transform_point(point)

    def transform_vector(self, src: str, dst: str, vector: Sequence[float]) -> list[float]:
        return self.tf(src, dst).transform_vector(vector)

    def frame_chain(self, src: str, dst: str) -> list[str]:
        """The frames from `src` up to the common ancestor and down to `dst`."""
        self._sync()
        with self._lock:
            up, down = self._paths(src, dst)
            return [*up, *reversed(down[:-1])] if up[-1] == down[-1] else []

    def wait_for_transform(self, src: str, dst: str, timeout_sec: float = 5.0) -> Transform:
        """Block until `src` -> `dst` can be looked up; HorusTimeoutError after `timeout_sec`."""
        deadline = time.monotonic() + timeout_sec
        with self._lock:
            while True:
                try:
                    return self._lookup(src, dst, None, None)
                except (HorusNotFoundError, HorusTransformError) as exc:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise HorusTimeoutError(
                            f"no transform {src!r} -> {dst!r} within {timeout_sec:g}s: {exc}"
                        ) from exc
                    # A local update notifies; a peer's arrives only when we look, so look every 10 ms.
                    self._lock.wait(min(left, 0.01) if self._share is not None else left)

    def wait_for_transform_async(self, src: str, dst: str, timeout_sec: float = 5.0) -> Future[Transform]:
        """wait_for_transform on a thread of its own; ``await asyncio.wrap_future(...)`` it."""
        future: Future[Transform] = Future()

        def wait() -> None:
            try:
                future.set_result(self.wait_for_transform(src, dst, timeout_sec))
            except BaseException as exc:  # handed to whoever awaits the future
                future.set_exception(exc)

        threading.Thread(target=wait, name=f"horus-tf-wait-{src}-{dst}", daemon=True).start()
        return future

    def is_stale(self, name: str, max_age_sec: float = 1.0) -> bool:
        """True when `name` (not static) has not been updated for `max_age_sec`, or never."""
        self._sync()
        frame = self._frame(name)
        if frame.static is not None or frame.parent is None:
            return False
        return frame.updated_at is None or time.monotonic() - frame.updated_at > max_age_sec

    def time_since_last_update(self, name: str) -> float | None:
        updated = self._frame(name).updated_at
        return None if updated is None else time.monotonic() - updated

    def stats(self) -> dict[str, Any]:
        with self._lock:
            frames = list(self._frames.values())
            return {
                "total_frames": len(frames),
                "static_frames": sum(f.static is not None for f in frames),
                "dynamic_frames": sum(f.static is None and f.parent is not None for f in frames),
                "max_frames": self._config.max_frames,
                "history_len": self._config.history_len,
            }

    # Upstream's introspection: the reports themselves are frame_report's.

    def _views(self) -> dict[str, frame_report.FrameView]:
        self._sync()
        with self._lock:
            return {
                f.name: frame_report.FrameView(f.name, f.id, f.parent, f.static is not None, tuple(f.stamps))
                for f in self._frames.values()
            }

    def validate(self) -> None:
        """Raise HorusTransformError when a frame's parent is unknown or a chain of parents loops."""
        frame_report.validate(self._views())

    def frame_info(self, name: str) -> dict[str, Any] | None:
        """name, id, parent, is_static, children_count, depth, time_range (oldest, newest ns) or None."""
        views = self._views()
        return frame_report.info(views, name) if name in views else None

    def frame_info_all(self) -> list[dict[str, Any]]:
        views = self._views()
        return [frame_report.info(views, name) for name in views]

    def frames_as_dot(self) -> str:
        """The tree as a Graphviz digraph (parent -> child)."""
        return frame_report.as_dot(self._views())

    def frames_as_yaml(self) -> str:
        """The tree as ROS 2 tf2's allFramesAsYAML."""
        return frame_report.as_yaml(self._views())

    def format_tree(self) -> str:
        lines: list[str] = []

        def walk(name: str, depth: int) -> None:
            lines.append("  " * depth + name)
            for child in self.children(name):
                walk(child, depth + 1)

        for root in [f.name for f in self._frames.values() if f.parent is None]:
            walk(root, 0)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"TransformFrame({self.frame_count()} frames)"

    # -- inside ----------------------------------------------------------------------

    def _frame(self, name: str) -> _Frame:
        frame = self._frames.get(name)
        if frame is None:
            raise HorusNotFoundError(f"no frame named {name!r} (frames: {', '.join(self._frames) or 'none'})")
        return frame

    @staticmethod
    def _can(lookup: Any) -> bool:
        try:
            lookup()
        except (HorusNotFoundError, HorusTransformError):
            return False
        return True

    def _paths(self, src: str, dst: str) -> tuple[list[str], list[str]]:
        """Each frame's chain of ancestors, itself first, cut below their lowest common ancestor."""
        up, down = self._ancestors(src), self._ancestors(dst)
        common = next((name for name in up if name in set(down)), None)
        if common is None:
            return up, down
        return up[: up.index(common) + 1], down[: down.index(common) + 1]

    def _ancestors(self, name: str) -> list[str]:
        chain = [name]
        frame = self._frame(name)
        while frame.parent is not None:
            chain.append(frame.parent)
            frame = self._frame(frame.parent)
        return chain

    def _lookup(self, src: str, dst: str, at: int | None, tolerance: int | None) -> Transform:
        self._sync()
        with self._lock:
            up, down = self._paths(src, dst)
            if up[-1] != down[-1]:
                raise HorusTransformError(f"frames {src!r} and {dst!r} are in different trees (no common ancestor)")
            src_to_common = Transform()
            for name in up[:-1]:  # child to parent, composed on the left as we climb
                src_to_common = self._link(name, at, tolerance).compose(src_to_common)
            dst_to_common = Transform()
            for name in down[:-1]:
                dst_to_common = self._link(name, at, tolerance).compose(dst_to_common)
            return dst_to_common.inverse().compose(src_to_common)

    def _link(self, name: str, at: int | None, tolerance: int | None) -> Transform:
        frame = self._frames[name]
        if frame.static is not None:
            return frame.static
        if not frame.samples:
            raise HorusTransformError(f"frame {name!r} has no transform yet (update_transform it first)")
        if at is None:
            return frame.samples[-1]
        i = bisect.bisect_left(frame.stamps, at)
        if i < len(frame.stamps) and frame.stamps[i] == at:
            return frame.samples[i]
        if 0 < i < len(frame.stamps):
            t0, t1 = frame.stamps[i - 1], frame.stamps[i]
            return frame.samples[i - 1].interpolate(frame.samples[i], (at - t0) / (t1 - t0))
        nearest = 0 if i == 0 else len(frame.stamps) - 1
        gap = abs(frame.stamps[nearest] - at)
        if tolerance is not None and gap > tolerance:
            raise HorusTransformError(
                f"frame {name!r} has no transform within {tolerance / 1e6:g} ms of {at} ns "
                f"(its history spans {frame.stamps[0]}..{frame.stamps[-1]} ns)"
            )
        return frame.samples[nearest]
