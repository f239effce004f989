"""The bounded outbox of one connection: encoded frames waiting for that connection's writer task.

SSE subscribers (``hub.Subscriber``) and WebSocket peers (``presence.Peer``) share these mechanics and
keep their own policy on top (what a frame is, how it is taken, what may be coalesced or skipped).
"""

from __future__ import annotations

from collections.abc import Awaitable, MutableSequence
from typing import ClassVar, Generic, TypeVar

from atoms_core.engine.wakeable import READY, Wakeable

Item = TypeVar("Item")


class Outbox(Wakeable, Generic[Item]):
    """Frames queued for one writer, bounded in bytes. Past the bound the consumer is too slow to be
    worth waiting for: everything pending is dropped and the outbox closed (``overflowed``); the client
    starts over (SSE resumes with ``Last-Event-ID``, a WebSocket reconnects)."""

    __slots__ = ("_limit", "_queue", "_size", "closed", "overflowed")

    #: Whether one frame alone may exceed the bound (the writer takes any one frame from an otherwise
    #: empty outbox) rather than overflow it.
    LONE_FRAME_FITS: ClassVar[bool] = False

    def __init__(self, limit_bytes: int, queue: MutableSequence[Item]) -> None:
        super().__init__()
        #: Empty and allocated once per connection: the subclass picks the container (a list costs
        #: a tenth of an empty deque, which matters for thousands of idle connections).
        self._queue = queue
        self._size = 0  # bytes counted towards ``_limit``
        self._limit = limit_bytes
        self.closed = False
        self.overflowed = False

    def _enqueue(self, item: Item, size: int) -> bool:
        """Queue ``item``, counting ``size`` bytes, and wake the writer; False if it overflowed the bound."""
        self._size += size
        if self._size > self._limit and (self._size > size or not self.LONE_FRAME_FITS):
            self._overflow()
            return False
        self._queue.append(item)
        self._wake()
        return True

    def _overflow(self) -> None:
        self.overflowed = True
        self._queue.clear()
        self._shut()

    def _shut(self) -> None:
        """Mark closed and wake the writer, which ends once it has written what is still queued."""
        self.closed = True
        self._wake()

    def wait(self) -> Awaitable[None]:
        """Done once a frame is pending or the outbox is closed: the parked future itself, or ``READY``."""
        if self._queue or self.closed:
            return READY
        return self._park()
