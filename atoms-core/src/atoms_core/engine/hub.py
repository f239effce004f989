"""The local hub: which SSE subscribers of *this process* watch which partition.

A publish touches only its own partition's subscriber set (no global queue). Each subscriber has
a bounded outbox of already-encoded frames (``outbox.py``); its writer takes everything pending in one
piece. Overflow closes that subscriber — it resumes from the timeline with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from atoms_core.engine.inline_send import InlineWrite, chunked
from atoms_core.engine.outbox import Outbox
from atoms_core.protocol.timeline import Partition, StoredEvent
from atoms_core.protocol.wire import event_frames

#: The most a writer hands a connection's transport at once; larger frames go out a slice at a time as
#: the transport drains (``endpoints/sse_write.py``), so a client that does not read holds about one.
SLICE = 64 * 1024


class Subscriber(Outbox[bytes]):
    """One SSE connection's outbox: frames are bytes, and its writer takes everything pending in one piece."""

    __slots__ = ("ended", "partition", "write_now", "writer")

    _queue: list[bytes]

    def __init__(self, partition: Partition, limit_bytes: int) -> None:
        super().__init__(limit_bytes, [])
        self.partition = partition
        #: The task writing to the client; cancelled on overflow, since it may be stuck in a
        #: send that waits for a client that stopped reading.
        self.writer: asyncio.Task[object] | None = None
        #: Writes a frame in place (``inline_send.py``); used only while the writer is parked
        #: with nothing pending, so frames never overtake queued ones.
        self.write_now: InlineWrite | None = None
        #: Why its lease ended the stream (credentials expired or revoked), if it did.
        self.ended: str | None = None

    def push(self, data: bytes, chunk: bytes) -> bool:
        """Deliver ``data`` (``chunk``: the same, chunk-framed); True if written in place, False if queued."""
        if self.closed:
            return False
        waiter = self._waiter  # pending only while the writer is parked with nothing queued
        if waiter is not None and not waiter.done() and self.write_now is not None and self.write_now(data, chunk):
            return True
        # ``Outbox._enqueue`` inlined: this runs once per subscriber per event, and the call alone costs
        # ~18% of a queued delivery.
        self._size += len(data)
        if self._size > self._limit:
            self._overflow()
            return False
        self._queue.append(data)
        self._wake()
        return False

    def _overflow(self) -> None:
        super()._overflow()
        if self.writer is not None:
            self.writer.cancel()

    def close(self) -> None:
        self._shut()

    def end(self, reason: str) -> None:
        """The lease's end: close, remembering the first reason. A writer that is not parked may be stuck
        in a send to a client that stopped reading (an opening, or frames that do not drain): it is cut
        off as on an overflow, since no stream outlives its credentials."""
        if self.ended is None:
            self.ended = reason
        if self.closed:
            return
        waiter, writer = self._waiter, self.writer
        stuck = waiter is None or waiter.done()  # before ``_shut`` wakes a parked writer
        self._shut()
        if stuck and writer is not None and writer is not asyncio.current_task():
            writer.cancel()

    def take(self) -> bytes:
        """What is pending, as one piece (empty if nothing): everything, unless that is more than a
        ``SLICE``; then the frames that fit in one (at least one, which may be larger: the writer slices
        it). Frames are shared by every subscriber of the partition, a joined piece is this one's own:
        a client that stopped reading holds at most a slice of its own, whatever is queued for it."""
        queue = self._queue
        if not queue:
            return b""
        if len(queue) == 1 or self._size <= SLICE:
            data = queue[0] if len(queue) == 1 else b"".join(queue)
            queue.clear()
            self._size = 0
            return data
        count, size = 1, len(queue[0])
        while count < len(queue) and size + len(queue[count]) <= SLICE:
            size += len(queue[count])
            count += 1
        data = queue[0] if count == 1 else b"".join(queue[:count])
        del queue[:count]
        self._size -= size
        return data


class Hub:
    def __init__(self) -> None:
        self._partitions: dict[Partition, set[Subscriber]] = {}
        self.closing = False
        #: Frames written in place by the publisher vs. queued for a writer task (``/metrics``).
        self.inline_frames = 0
        self.queued_frames = 0

    def subscribe(self, partition: Partition, limit_bytes: int) -> Subscriber:
        sub = Subscriber(partition, limit_bytes)
        self._partitions.setdefault(partition, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._partitions.get(sub.partition)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._partitions[sub.partition]

    def publish(self, partition: Partition, data: bytes) -> int:
        """Deliver to this partition's subscribers; return how many writer tasks were handed frames."""
        subs = self._partitions.get(partition)
        if not subs:
            return 0
        inline = 0
        chunk = chunked(data)  # framed once for every subscriber written in place
        for sub in subs:  # push never unsubscribes, so the set is stable here
            inline += sub.push(data, chunk)
        self.inline_frames += inline
        self.queued_frames += len(subs) - inline
        return len(subs) - inline

    def publish_events(self, partition: Partition, events: Sequence[StoredEvent]) -> int:
        """``publish`` of stored events, encoded as SSE frames only when someone here listens."""
        if not events or partition not in self._partitions:
            return 0
        return self.publish(partition, event_frames(events))

    def has_subscribers(self, partition: Partition) -> bool:
        return partition in self._partitions

    def heartbeat(self, data: bytes) -> None:
        """Push a comment to every subscriber of this process (every ``sse_heartbeat_s``)."""
        chunk = chunked(data)
        for subs in self._partitions.values():
            for sub in subs:
                sub.push(data, chunk)

    def close_all(self) -> None:
        self.closing = True
        for subs in list(self._partitions.values()):
            for sub in list(subs):
                sub.close()
