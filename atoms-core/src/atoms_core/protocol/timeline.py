"""The timeline store contract: one durable, gap-free, per-partition log of encoded events.

Every engine (``stores/memory.py``, ``stores/sqlite.py``, ``stores/redis.py``) implements
``TimelineStore`` and is held to one shared contract test suite. Guarantees each must give:

- ``append`` is atomic: all events and idempotency results of the call land, or none do. It
  succeeds only if the partition head still equals ``expected_head`` (else ``HeadMoved``), so
  seqs stay gap-free and unique even with several writers (nodes) on one store, and only if none
  of the ``results`` command ids is stored yet (else ``CommandSeen``), so the caller can decide
  optimistically and look results up only when a command was seen before. When it returns, the
  events are durable to the store's configured level.
- ``read`` returns retained events with ``after < seq``, ascending, at most ``limit``.
- ``bounds`` gives ``(first_retained_seq, head)``; ``first_retained_seq`` is ``head + 1`` when
  nothing is retained.
- Everything is keyed by ``Partition`` (tenant, stream); nothing scans other partitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol


class Partition(NamedTuple):
    tenant_id: str
    stream_id: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    type: str
    body: str  # the EventEnvelope as one-line JSON, encoded once


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    seq: int
    state_json: str  # StreamState.to_json(), encoded


def page_bytes(events: list[StoredEvent]) -> int:
    """What a page of events weighs against ``read``'s ``max_bytes``: its bodies' characters."""
    return sum(len(event.body) for event in events)


def within(events: list[StoredEvent], max_bytes: int | None) -> list[StoredEvent]:
    """The shortest prefix of ``events`` whose bodies reach ``max_bytes`` (all of them if none does)."""
    if max_bytes is None:
        return events
    size = 0
    for count, event in enumerate(events, 1):
        size += len(event.body)
        if size >= max_bytes:
            return events[:count]
    return events


class HeadMoved(Exception):
    """Another writer appended first; catch up and retry."""

    def __init__(self, head: int) -> None:
        super().__init__(f"partition head is {head}")
        self.head = head


class CommandSeen(Exception):
    """A command id of the append already has a stored result; look it up and decide again."""


class StoreUnavailable(Exception):
    """The store cannot be reached; nothing was committed."""


class StoreRefused(StoreUnavailable):
    """The store will not open as it is (a lost or foreign file); the message says what to do."""


class TimelineStore(Protocol):
    async def open(self) -> None: ...  # a second call while open does nothing

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def append(self, partition: Partition, expected_head: int, events: list[StoredEvent],
                     results: dict[str, str]) -> None: ...

    async def read(self, partition: Partition, after: int, limit: int,
                   max_bytes: int | None = None) -> list[StoredEvent]:
        """The events after ``after`` in order: at most ``limit``, and with ``max_bytes`` no more
        than the shortest run whose bodies (``page_bytes``) reach it, so a page of large events stays
        small in memory (at least one event)."""
        ...

    async def bounds(self, partition: Partition) -> tuple[int, int]: ...

    async def lookup(self, partition: Partition, command_ids: list[str]) -> dict[str, str]: ...

    async def save_snapshot(self, partition: Partition, snapshot: StoredSnapshot) -> None: ...

    async def latest_snapshot(self, partition: Partition) -> StoredSnapshot | None: ...

    async def prune(self, partition: Partition, through_seq: int) -> None: ...
