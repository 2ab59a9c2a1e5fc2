"""Exceptions raised by the HORUS runtime; each message says what happened and what to do."""


class HorusError(Exception):
    """Base class of every HORUS runtime error."""


class TopicLayoutError(HorusError, ValueError):
    """A topic exists with another message size, capacity or format than this process asked for."""


class TopicBusyError(HorusError, RuntimeError):
    """Another process already publishes on this topic (one publisher process per topic)."""


class MessageTooLargeError(HorusError, ValueError):
    """A message does not fit the topic's maximum message size; nothing was sent."""


class TopicCorruptError(HorusError, RuntimeError):
    """A file in the namespace is not a topic this HORUS version can read; `horus clean --shm` removes it."""


class EncodeError(HorusError, TypeError):
    """A value cannot be sent: only dict/list/tuple/str/bytes/int/float/bool/None and numpy arrays can."""


class DecodeError(HorusError, ValueError):
    """A received payload is malformed (written by an incompatible HORUS version or corrupted)."""


class HorusNotFoundError(HorusError, LookupError):
    """A topic, frame or node that was asked for does not exist (upstream HORUS's name)."""


class HorusTransformError(HorusError, ValueError):
    """A coordinate transform cannot be computed: frames not connected, or no data near that time."""


class HorusTimeoutError(HorusError, TimeoutError):
    """A blocking operation (waiting for a transform, a message) did not finish in time."""


class NodeNotFoundError(HorusNotFoundError, KeyError):
    """No node of that name was added to the scheduler."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
