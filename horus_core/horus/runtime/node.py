"""horus.Node: a tick function, its rate, its topics and what to do when it fails."""

from __future__ import annotations

import asyncio
import inspect
import sys
import uuid
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..messaging import codec, namespace
from ..messaging.message import Message
from ..messaging.topic import Topic
from ..observability import log
from .policy import FailurePolicy, Miss

if TYPE_CHECKING:
    from ..recording.recorder import Feed, TickTap
    from .nodeinfo import NodeInfo

TopicSpec = str | list[Any] | dict[str, Any] | None


def _is_message_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, Message)


class Pub:
    """A published topic declared with its message class, as upstream HORUS spells it:
    ``pubs=[horus.Pub("arm.joint_cmd", horus.JointCommand)]``.

    capacity: ring slots (a power of two); None keeps the topic's default (16), since every
    slot is as large as the topic's largest message.
    """

    def __init__(self, topic: str, msg_type: type[Message] | None = None, capacity: int | None = None) -> None:
        if msg_type is not None and not _is_message_class(msg_type):
            raise TypeError(
                f"{type(self).__name__}({topic!r}, {msg_type!r}): the type must be a message class such as horus.CmdVel"
            )
        self.topic = topic
        self.msg_type = msg_type
        self.capacity = capacity

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.msg_type is None else {"type": self.msg_type}
        return out if self.capacity is None else {**out, "capacity": self.capacity}


class Sub(Pub):
    """A subscribed topic declared with its message class: ``subs=[horus.Sub("arm.joints", horus.JointState)]``."""


_SETTINGS = {"capacity", "max_msg_size", "type"}


def _dict_settings(cfg: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = set(cfg) - _SETTINGS
    if unknown:
        raise TypeError(f"{where}: unknown topic settings {sorted(unknown)}; use {', '.join(sorted(_SETTINGS))}")
    if "type" in cfg and not _is_message_class(cfg["type"]):
        raise TypeError(f"{where}: 'type' must be a message class such as horus.CmdVel, not {cfg['type']!r}")
    return dict(cfg)


def _parse_topics(spec: TopicSpec, what: str) -> dict[str, dict[str, Any]]:
    """pubs/subs as upstream HORUS takes them: "name", ["a", horus.CmdVel, horus.Sub("b", T)] (a
    message class: the topic its __topic_name__ names), {"name": horus.CmdVel},
    {"name": {"type": horus.CmdVel, "capacity": .., "max_msg_size": ..}}, or {"name": float} (any
    other Python type, dict included: a plain untyped topic, as upstream makes one)."""
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
            if isinstance(cfg, type):  # float, dict, a class of the team's: untyped, as upstream
                out[name] = {}
                continue
            if cfg is not None and not isinstance(cfg, dict):
                raise TypeError(
                    f"{what}[{name!r}] must be a type (horus.CmdVel, float, dict) or a dict of topic settings "
                    "(type, capacity, max_msg_size)"
                )
            out[name] = _dict_settings(cfg or {}, f"{what}[{name!r}]")
        return out
    if isinstance(spec, (list, tuple)):
        out = {}
        for item in spec:
            if _is_message_class(item):
                out[item.__topic_name__] = {"type": item}
            elif isinstance(item, str):
                out[item] = {}
            elif isinstance(item, Pub):
                out[item.topic] = item.settings()
            else:
                raise TypeError(
                    f"{what} items must be topic names, message classes or horus.Pub/horus.Sub, "
                    f"got {type(item).__name__}"
                )
        return out
    raise TypeError(f"{what} must be a str, list or dict, got {type(spec).__name__}")


class LogOutsideSchedulerWarning(RuntimeWarning):
    """A node logged outside init/tick/shutdown (upstream HORUS warns there).

    The record is still written. Ignored by default, so a script that logs before it runs its
    nodes does not print every line twice; ``-W error::RuntimeWarning`` or ``pytest.warns`` see it.
    """


warnings.filterwarnings("ignore", category=LogOutsideSchedulerWarning, append=True)

_PHASES = ("init", "tick", "shutdown")


def _takes_info(method: Callable[..., Any]) -> bool:
    """Whether a bound init/tick/shutdown accepts the NodeInfo argument: ``tick(self, info)`` or ``tick(self)``."""
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: give it what upstream gives
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in positional or p.kind == inspect.Parameter.VAR_POSITIONAL for p in params)


class Node:
    """One unit of work the scheduler ticks: give it functions, or subclass it.

    Function style: ``horus.Node(name="motor", tick=fn, rate=1000)``, with ``fn(node)``.
    Class style, as upstream HORUS: override ``init``, ``tick`` and ``shutdown``, with or
    without the ``info`` argument (a NodeInfo), and call ``super().__init__(...)``::

        class Motor(horus.Node):
            def __init__(self):
                super().__init__(name="motor", rate=1000, subs=["cmd_vel"])
            def tick(self, info=None):
                cmd = self.recv("cmd_vel")

    Args:
        name: unique within a scheduler (auto-generated if None).
        tick / init / shutdown: ``fn(node)``; tick at ``rate`` Hz, init once before the first
            tick, shutdown once after the last; each may be ``async def``.
        rate: ticks per second.
        pubs / subs: topic names, message classes, or ``{"name": horus.CmdVel}`` /
            ``{"name": {"max_msg_size": N, "capacity": C}}``.
        failure_policy: what an exception in tick (or init) does; see horus.runtime.policy:
            ``"fatal"``, ``"restart"``, ``"skip"`` or ``"ignore"``. Without one (upstream's
            default) the error is logged and counted and the node keeps ticking; production
            nodes should say which they need.
        on_error: ``on_error(node, exc)``, a notification: the policy applies after it.
        compute: tick on a worker thread so a slow node never delays the others.
        on: tick when a message arrives on this topic instead of at ``rate``.
        budget / deadline: seconds; a tick longer than budget is a budget overrun, one
            that ends later than deadline after its due time is a deadline miss.
            Default: 80 % and 95 % of the period, as upstream HORUS.
        on_miss: what a deadline miss does (horus.Miss): ``"warn"`` (log it), ``"skip"``
            (skip the next tick), ``"safe_mode"`` (call the node's ``enter_safe_state()``)
            or ``"stop"`` (stop the scheduler). Default: only counted.
        priority: SCHED_FIFO priority 1-99 (higher is more urgent) of a thread of its own.
        core: pin the node's tick to this CPU (a thread of its own).
        order: lower runs earlier within one scheduler pass.
        watchdog: seconds; a tick running longer counts as a watchdog expiration.
    """

    def __init__(
        self,
        name: str | None = None,
        tick: Callable[[Node], Any] | None = None,
        rate: float = 30,
        pubs: TopicSpec = None,
        subs: TopicSpec = None,
        init: Callable[[Node], Any] | None = None,
        shutdown: Callable[[Node], Any] | None = None,
        on_error: Callable[[Node, BaseException], Any] | None = None,
        order: int = 100,
        budget: float | None = None,
        deadline: float | None = None,
        on_miss: str | None = None,
        failure_policy: str | FailurePolicy | None = None,
        compute: bool = False,
        on: str | None = None,
        priority: int | None = None,
        core: int | None = None,
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
        if priority is not None and not 0 <= priority <= 99:
            raise ValueError(
                "Node priority is a SCHED_FIFO priority, 1 (least) to 99 (most urgent), or 0 for none; "
                f"got {priority!r}"
            )
        if core is not None and core < 0:
            raise ValueError(f"Node core is a CPU index (0, 1, ...); got {core!r}")
        self.name = name or f"node_{uuid.uuid4().hex[:8]}"
        self.namespace = namespace.current()
        self.rate = rate
        self.failure_policy = failure_policy  # as given: upstream reads it back unchanged
        self._policy = FailurePolicy.parse(failure_policy)
        self.on_miss = Miss.parse(on_miss)
        self.budget = budget
        self.deadline = deadline
        self.on_error = on_error
        self.order = order
        self.priority = priority
        self.core = core
        self.watchdog = watchdog
        self.default_capacity = default_capacity
        self.tick_fn = tick
        self.init_fn = init
        self.shutdown_fn = shutdown
        self._horus_compute = bool(compute)
        self._horus_on = on
        methods = {phase: getattr(self, phase) for phase in _PHASES}
        self._takes_info = {phase: _takes_info(m) for phase, m in methods.items()}
        self._horus_async = any(inspect.iscoroutinefunction(f) for f in (tick, init, shutdown, *methods.values()) if f)
        if sum((self._horus_async, self._horus_compute, on is not None)) > 1:
            raise ValueError(
                "Node execution classes are mutually exclusive: use one of an async tick, compute=True or on='topic'"
            )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pub_cfg = _parse_topics(pubs, "pubs")
        self._sub_cfg = _parse_topics(subs, "subs")
        if on is not None and on not in self._sub_cfg:
            self._sub_cfg[on] = {}
        self._pubs: dict[str, Topic] = {}
        self._subs: dict[str, Topic] = {}
        self._declared = {name: cfg["type"] for name, cfg in self._pub_cfg.items() if "type" in cfg}
        self.info: NodeInfo | None = None  # set by the scheduler while a callback runs
        self.tick_count = 0
        self.messages_sent = 0
        self.messages_received = 0
        self._missed_closed = 0
        self._stop_requested = False
        self._tap: TickTap | None = None  # recording: what this tick received and sent
        self._feed: Feed | None = None  # replay: recv answers come from the recording, sends go nowhere

    # -- timing, as the scheduler applies it -----------------------------------------------

    @property
    def period(self) -> float:
        return 1.0 / self.rate

    @property
    def compute(self) -> bool:
        return self._horus_compute

    def _set_execution(self, kind: str, topic: str | None) -> None:
        """Make the node one of upstream's execution classes after construction (NodeBuilder's
        on/compute/async_io): "on" a topic, "compute" or "async"; the others are turned off."""
        if kind == "async" and not self._horus_async:
            raise ValueError(f"node {self.name!r}: async_io() needs an `async def` tick")
        self._horus_compute = kind == "compute"
        self._horus_async = kind == "async"
        self._horus_on = topic if kind == "on" else None
        if topic is not None and topic not in self._sub_cfg:
            self._sub_cfg[topic] = {}

    @property
    def policy(self) -> FailurePolicy:
        """The failure policy in force (failure_policy as given parses to this)."""
        return self._policy

    def tick_budget(self) -> float:
        return self.budget if self.budget is not None else 0.8 * self.period

    def tick_deadline(self) -> float:
        return self.deadline if self.deadline is not None else 0.95 * self.period

    # -- what a subclass overrides ----------------------------------------------------------

    def init(self, info: NodeInfo | None = None) -> Any:
        """Called once before the first tick; by default, the ``init=`` function."""
        return self.init_fn(self) if self.init_fn else None

    def tick(self, info: NodeInfo | None = None) -> Any:
        """Called at ``rate`` Hz; by default, the ``tick=`` function."""
        return self.tick_fn(self) if self.tick_fn else None

    def shutdown(self, info: NodeInfo | None = None) -> Any:
        """Called once after the last tick; by default, the ``shutdown=`` function."""
        return self.shutdown_fn(self) if self.shutdown_fn else None

    # -- topics -------------------------------------------------------------------

    def _topic(self, table: dict[str, Topic], cfg: dict[str, dict[str, Any]], name: str) -> Topic:
        topic = table.get(name)
        if topic is None:
            settings = cfg.get(name) or self._pub_cfg.get(name) or self._sub_cfg.get(name) or {}
            topic = Topic(
                name, settings.get("capacity", self.default_capacity), max_msg_size=settings.get("max_msg_size")
            )
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

    def send(self, topic: str, data: Any) -> bool:
        """Publish ``data`` on ``topic``. Raises MessageTooLargeError / EncodeError on bad input.

        On a topic declared with a message class (``pubs={"cmd": horus.CmdVel}``), a dict is
        built into that class and anything else is a TypeError, as upstream HORUS does; on a
        topic declared by name only, a typed message travels as the dict of its fields (as
        upstream's generic topics carry it), unless the name is its class's (pubs="Point3"):
        declare the class to keep it typed.
        """
        declared = self._declared.get(topic)
        if declared is not None and not isinstance(data, declared):
            data = _as_declared(declared, topic, data)
        elif declared is None and isinstance(data, Message) and topic != type(data).__name__:
            data = _as_plain(data)
        if self._tap is not None:  # encoded now: the caller may reuse its buffer after send
            self._tap.sent.append([topic, codec.encode_bytes(data)])
        sent = True if self._feed is not None else self._topic(self._pubs, self._pub_cfg, topic).send(data)
        self.messages_sent += 1
        return sent

    def recv(self, topic: str) -> Any:
        """The next message on ``topic``, or None."""
        feed = self._feed
        msg = feed.next(topic) if feed is not None else self._topic(self._subs, self._sub_cfg, topic).recv()
        if self._tap is not None:
            self._tap.received.append([topic, msg])
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
        if self._feed is not None:
            msgs = self._feed.next("*" + topic, [])
        else:
            msgs = self._topic(self._subs, self._sub_cfg, topic).recv_all()
        if self._tap is not None:
            self._tap.received.append(["*" + topic, msgs])
        self.messages_received += len(msgs)
        return msgs

    def has_msg(self, topic: str) -> bool:
        """True if ``recv(topic)`` would return a message; does not consume it."""
        if self._feed is not None:
            answer = bool(self._feed.next("?" + topic, False))
        else:
            answer = self._topic(self._subs, self._sub_cfg, topic).has_msg()
        if self._tap is not None:
            self._tap.received.append(["?" + topic, answer])
        return answer

    def publishers(self) -> list[str]:
        return list(dict.fromkeys([*self._pub_cfg, *self._pubs]))

    def subscribers(self) -> list[str]:
        return list(dict.fromkeys([*self._sub_cfg, *self._subs]))

    @property
    def pub_topics(self) -> list[str]:
        """Topics this node declared or sent on (upstream's attribute; same as publishers())."""
        return self.publishers()

    @property
    def sub_topics(self) -> list[str]:
        return self.subscribers()

    @property
    def messages_missed(self) -> int:
        """Messages lost on this node's subscriptions because it fell a whole ring behind."""
        return self._missed_closed + sum(t.missed for t in self._subs.values())

    # -- logging ------------------------------------------------------------------
    # depth 3: the journal's CODE_* fields name the code that called log_*(), not log_*() itself.

    def _log(self, level: int, message: str) -> None:
        if self.info is None:
            warnings.warn(
                f"Node {self.name!r}: log called outside scheduler (not in init/tick/shutdown); "
                "the record is written all the same",
                LogOutsideSchedulerWarning,
                stacklevel=3,
            )
        log.emit(level, self.name, self.tick_count, message, self.namespace, 3)

    def log_info(self, message: str) -> None:
        self._log(log.INFO, message)

    def log_warning(self, message: str) -> None:
        self._log(log.WARNING, message)

    def log_error(self, message: str) -> None:
        self._log(log.ERROR, message)

    def log_debug(self, message: str) -> None:
        self._log(log.DEBUG, message)

    def request_stop(self) -> None:
        """Ask the scheduler running this node to stop after the current pass."""
        self._stop_requested = True

    # -- callbacks, as the scheduler calls them ----------------------------------------

    def _invoke(self, phase: str, info: NodeInfo | None) -> None:
        """Run init, tick or shutdown (as overridden) with this node's info set while it runs."""
        method = getattr(self, phase)
        previous, self.info = self.info, info
        try:
            result = method(info) if self._takes_info[phase] else method()
            if self._horus_async and inspect.iscoroutine(result):
                if self._loop is None:
                    self._loop = asyncio.new_event_loop()
                self._loop.run_until_complete(result)
        finally:
            self.info = previous

    def _run_tick_with_error_handling(self, info: NodeInfo | None = None) -> None:
        """One tick. An exception goes to ``on_error`` (a notification) and is raised again, so
        the failure policy still applies; if on_error itself fails, the tick's exception wins."""
        try:
            self._invoke("tick", info)
        except Exception as exc:
            if self.on_error is not None:
                try:
                    self.on_error(self, exc)
                except Exception:
                    log.emit(log.ERROR, self.name, self.tick_count, f"on_error failed: {describe_exception(exc)}")
            raise

    def _close_loop(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def __repr__(self) -> str:
        return f"Node({self.name!r}, rate={self.rate:g}, policy={self._policy.kind!r})"


def _as_declared(declared: type[Message], topic: str, msg: Any) -> Message:
    if isinstance(msg, dict):
        try:
            return declared(**msg)
        except TypeError as exc:
            raise TypeError(
                f"topic {topic!r} carries {declared.__name__}: cannot build one from {msg!r} ({exc})"
            ) from exc
    raise TypeError(f"topic {topic!r} carries {declared.__name__} messages, not {type(msg).__name__}")


def _as_plain(msg: Message) -> dict[str, Any]:
    return {field.name: getattr(msg, field.name) for field in msg.FIELDS}


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
