"""horus.Node: a tick function, its rate, its topics and what to do when it fails."""

from __future__ import annotations

import asyncio
import inspect
import sys
import uuid
from collections.abc import Callable
from typing import Any

from . import log, namespace
from .message import Message
from .policy import FailurePolicy
from .topic import Topic

TopicSpec = str | list[Any] | dict[str, Any] | None


def _is_message_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, Message)


def _parse_topics(spec: TopicSpec, what: str) -> dict[str, dict[str, Any]]:
    """pubs/subs as upstream HORUS takes them: "name", ["a", horus.CmdVel] (a message class: the
    topic its __topic_name__ names), {"name": horus.CmdVel} or {"name": {"max_msg_size": ..}}."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        return {spec: {}}
    if isinstance(spec, dict):
        out = {}
        for name, cfg in spec.items():
            if _is_message_class(cfg):
                out[name] = {"type": cfg}
                continue
            if cfg is not None and not isinstance(cfg, dict):
                raise TypeError(
                    f"{what}[{name!r}] must be a message class (horus.CmdVel) or a dict of topic settings "
                    "(capacity, max_msg_size)"
                )
            unknown = set(cfg or {}) - {"capacity", "max_msg_size"}
            if unknown:
                raise TypeError(
                    f"{what}[{name!r}]: unknown topic settings {sorted(unknown)}; use capacity, max_msg_size"
                )
            out[name] = dict(cfg or {})
        return out
    if isinstance(spec, (list, tuple)):
        out = {}
        for item in spec:
            if _is_message_class(item):
                out[item.__topic_name__] = {"type": item}
            elif isinstance(item, str):
                out[item] = {}
            else:
                raise TypeError(f"{what} items must be topic names or message classes, got {type(item).__name__}")
        return out
    raise TypeError(f"{what} must be a str, list or dict, got {type(spec).__name__}")


class Node:
    """One unit of work the scheduler ticks.

    Args:
        name: unique within a scheduler (auto-generated if None).
        tick: ``tick(node)``, called at ``rate`` Hz; may be ``async def``.
        init / shutdown: called once before the first tick / after the last; may be async.
        rate: ticks per second.
        pubs / subs: topic names, or ``{"name": {"max_msg_size": N, "capacity": C}}``.
        failure_policy: what an exception in tick (or init) does; see horus.policy.
            ``"fatal"`` (the default: stop the scheduler, exit non-zero so systemd
            restarts the process), ``"restart"``, ``"skip"`` or ``"ignore"``.
        compute: run the tick on a worker thread so a slow node never delays the others.
        budget / deadline: seconds; a tick longer than budget is a budget overrun, one
            that ends later than deadline after its due time is a deadline miss.
            Default: 80 % and 95 % of the period, as upstream HORUS.
        on_error: ``on_error(node, exc)``; when given, it handles tick errors instead of the policy.
        order: lower runs earlier within one scheduler pass.
        watchdog: seconds; a tick running longer counts as a watchdog expiration.
    """

    def __init__(
        self,
        name: str | None = None,
        tick: Callable[[Node], Any] | None = None,
        init: Callable[[Node], Any] | None = None,
        shutdown: Callable[[Node], Any] | None = None,
        rate: float = 30,
        pubs: TopicSpec = None,
        subs: TopicSpec = None,
        failure_policy: str | FailurePolicy | None = None,
        compute: bool = False,
        budget: float | None = None,
        deadline: float | None = None,
        on_error: Callable[[Node, BaseException], Any] | None = None,
        order: int = 100,
        watchdog: float | None = None,
        default_capacity: int | None = None,
    ) -> None:
        if rate is None or rate <= 0:
            raise ValueError(f"Node rate must be a positive number of Hz (got {rate!r})")
        for label, value in (("budget", budget), ("deadline", deadline), ("watchdog", watchdog)):
            if value is not None and value <= 0:
                raise ValueError(
                    f"Node {label} is in seconds and must be positive (got {value!r}); e.g. 300 * horus.us"
                )
        self.name = name or f"node_{uuid.uuid4().hex[:8]}"
        self.namespace = namespace.current()
        self.rate = float(rate)
        self.period = 1.0 / self.rate
        self.failure_policy = FailurePolicy.parse(failure_policy)
        self.compute = bool(compute)
        self.budget = budget if budget is not None else 0.8 * self.period
        self.deadline = deadline if deadline is not None else 0.95 * self.period
        self.on_error = on_error
        self.order = order
        self.watchdog = watchdog
        self.default_capacity = default_capacity
        self._is_async = any(inspect.iscoroutinefunction(f) for f in (tick, init, shutdown) if f)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tick_fn = tick
        self.init_fn = init
        self.shutdown_fn = shutdown
        self._pub_cfg = _parse_topics(pubs, "pubs")
        self._sub_cfg = _parse_topics(subs, "subs")
        self._pubs: dict[str, Topic] = {}
        self._subs: dict[str, Topic] = {}
        self.tick_count = 0
        self.messages_sent = 0
        self.messages_received = 0
        self._missed_closed = 0
        self._stop_requested = False

    # -- topics -------------------------------------------------------------------

    def _topic(self, table: dict[str, Topic], cfg: dict[str, dict[str, Any]], name: str) -> Topic:
        topic = table.get(name)
        if topic is None:
            settings = cfg.get(name) or self._pub_cfg.get(name) or self._sub_cfg.get(name) or {}
            topic = Topic(name, settings.get("capacity", self.default_capacity), settings.get("max_msg_size"))
            table[name] = topic
        return topic

    def open_topics(self) -> None:
        """Map every declared topic now, so a layout conflict fails at start, not mid-run."""
        for name in self._pub_cfg:
            self._topic(self._pubs, self._pub_cfg, name)._segment(create=True)
        for name in self._sub_cfg:
            self._topic(self._subs, self._sub_cfg, name)._reader()

    def close_topics(self) -> None:
        self._missed_closed = self.messages_missed
        for topic in [*self._pubs.values(), *self._subs.values()]:
            topic.close()
        self._pubs.clear()
        self._subs.clear()

    def send(self, topic: str, msg: Any) -> bool:
        """Publish ``msg`` on ``topic``. Raises MessageTooLargeError / EncodeError on bad input."""
        sent = self._topic(self._pubs, self._pub_cfg, topic).send(msg)
        self.messages_sent += 1
        return sent

    def recv(self, topic: str) -> Any:
        """The next message on ``topic``, or None."""
        msg = self._topic(self._subs, self._sub_cfg, topic).recv()
        if msg is not None:
            self.messages_received += 1
        return msg

    def recv_into(self, topic: str, msg: Message) -> bool:
        """Fill ``msg`` in place with the next message on ``topic``; False when there is none.
        Allocates nothing per message for message classes of numbers (see Topic.recv_into)."""
        got = self._topic(self._subs, self._sub_cfg, topic).recv_into(msg)
        if got:
            self.messages_received += 1
        return got

    def recv_all(self, topic: str) -> list[Any]:
        msgs = self._topic(self._subs, self._sub_cfg, topic).recv_all()
        self.messages_received += len(msgs)
        return msgs

    def has_msg(self, topic: str) -> bool:
        """True if ``recv(topic)`` would return a message; does not consume it."""
        return self._topic(self._subs, self._sub_cfg, topic).has_msg()

    def publishers(self) -> list[str]:
        return list(dict.fromkeys([*self._pub_cfg, *self._pubs]))

    def subscribers(self) -> list[str]:
        return list(dict.fromkeys([*self._sub_cfg, *self._subs]))

    @property
    def messages_missed(self) -> int:
        """Messages lost on this node's subscriptions because it fell a whole ring behind."""
        return self._missed_closed + sum(t.missed for t in self._subs.values())

    # -- logging ------------------------------------------------------------------
    # depth 2: the journal's CODE_* fields name the code that called log_*(), not log_*() itself.

    def log_info(self, message: str) -> None:
        log.emit(log.INFO, self.name, self.tick_count, message, self.namespace, 2)

    def log_warning(self, message: str) -> None:
        log.emit(log.WARNING, self.name, self.tick_count, message, self.namespace, 2)

    def log_error(self, message: str) -> None:
        log.emit(log.ERROR, self.name, self.tick_count, message, self.namespace, 2)

    def log_debug(self, message: str) -> None:
        log.emit(log.DEBUG, self.name, self.tick_count, message, self.namespace, 2)

    def request_stop(self) -> None:
        """Ask the scheduler running this node to stop after the current pass."""
        self._stop_requested = True

    # -- callbacks, as the scheduler calls them ----------------------------------------

    def _call(self, fn: Callable[[Node], Any] | None) -> None:
        if fn is None:
            return
        result = fn(self)
        if inspect.iscoroutine(result):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(result)

    def _close_loop(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def __repr__(self) -> str:
        return f"Node({self.name!r}, rate={self.rate:g}, policy={self.failure_policy.kind!r})"


def describe_exception(exc: BaseException) -> str:
    """One line for logs: type, message and where in user code it happened."""
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        frame = tb.tb_frame
        if not frame.f_code.co_filename.startswith(sys.prefix):
            where = f" ({frame.f_code.co_filename}:{tb.tb_lineno} in {frame.f_code.co_name})"
        tb = tb.tb_next
    return f"{type(exc).__name__}: {exc}{where}"
