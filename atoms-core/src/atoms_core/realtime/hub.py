"""The local hub: which SSE subscribers of *this process* watch which partition.

A publish touches only its own partition's subscriber set (no global queue). Each subscriber has
a bounded buffer of already-encoded frames; its writer takes everything pending in one piece.
Overflow closes that subscriber — it resumes from the timeline with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio

from atoms_core.realtime.timeline import Partition
from atoms_core.realtime.wakeable import Wakeable


class Subscriber(Wakeable):
    __slots__ = ("_chunks", "_limit", "_size", "closed", "overflowed", "partition", "writer")

    def __init__(self, partition: Partition, limit_bytes: int) -> None:
        super().__init__()
        self.partition = partition
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = limit_bytes
        self.closed = False
        self.overflowed = False
        #: The task writing to the client; cancelled on overflow, since it may be stuck in a
        #: send that waits for a client that stopped reading.
        self.writer: asyncio.Task[object] | None = None

    def push(self, data: bytes) -> None:
        if self.closed:
            return
        self._size += len(data)
        if self._size > self._limit:
            self.overflowed = True
            self._chunks.clear()
            self.close()
            if self.writer is not None:
                self.writer.cancel()
            return
        self._chunks.append(data)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def take(self) -> bytes:
        """Everything pending, as one piece (empty if nothing)."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._size = 0
        return data

    async def wait(self) -> None:
        """Return once something is pending or the subscriber is closed."""
        if not (self._chunks or self.closed):
            await self._park()


class Hub:
    def __init__(self) -> None:
        self._partitions: dict[Partition, set[Subscriber]] = {}
        self.closing = False

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

    def publish(self, partition: Partition, data: bytes) -> None:
        subs = self._partitions.get(partition)
        if subs:
            for sub in subs:  # push never unsubscribes, so the set is stable here
                sub.push(data)

    def has_subscribers(self, partition: Partition) -> bool:
        return partition in self._partitions

    def heartbeat(self, data: bytes) -> None:
        """Push a comment to every subscriber of this process (every ``sse_heartbeat_s``)."""
        for subs in self._partitions.values():
            for sub in subs:
                sub.push(data)

    def close_all(self) -> None:
        self.closing = True
        for subs in list(self._partitions.values()):
            for sub in list(subs):
                sub.close()
