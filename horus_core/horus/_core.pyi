"""Type stubs of horus._core, the native extension (csrc/module.c; contract in csrc/horus.h)."""

DEFAULT_SLOT_SIZE: int
DEFAULT_CAPACITY: int
MAX_SLOT_SIZE: int
TOPIC_VERSION: int

class Topic:
    slot_size: int
    capacity: int
    format: int
    head: int
    def __init__(
        self, dir: str, name: str, slot_size: int = 0, capacity: int = 0, format: int = 0, create: bool = True
    ) -> None: ...
    def close(self) -> None: ...
    def claim_publisher(self) -> None: ...
    def publish(self, *parts: object) -> int: ...

class Cursor:
    missed: int
    next: int
    def __init__(self, topic: Topic, at: int | None = None) -> None: ...
    def recv(self) -> bytearray | None: ...
    def ready(self) -> bool: ...

def now_ns() -> int: ...
def sleep_until(deadline_ns: int) -> None: ...
def timer_slack_min() -> None: ...
def lock_memory() -> None: ...
def ns_prepare(path: str) -> None: ...
def segment_in_use(path: str) -> bool: ...

LogRecordTuple = tuple[int, int, int, int, int, int, str, str]

class LogRing:
    head: int
    capacity: int
    def __init__(self, path: str, capacity: int = 0, create: bool = True) -> None: ...
    def append(self, level: int, node: str, tick: int, message: str) -> None: ...
    def read(self, next: int) -> tuple[int, int, LogRecordTuple | None, bool]: ...

StatsTuple = tuple[str, int, int, int, int, int, int, int, int, int, int, float, float]

class Stats:
    nodes: int
    pid: int
    scheduler: str
    def __init__(self, path: str, scheduler: str | None = None, nodes: int = 0) -> None: ...
    def update(
        self,
        i: int,
        name: str,
        state: int,
        health: int,
        ticks: int,
        errors: int,
        misses: int,
        overruns: int,
        last_ns: int,
        avg_ns: int,
        max_ns: int,
        rate: float,
        actual_rate: float,
        /,
    ) -> None: ...
    def read(self, i: int) -> StatsTuple: ...
