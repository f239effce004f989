"""MemoryStore: the timeline in process memory (tests, throwaway runs). Lost on exit."""

from __future__ import annotations

import bisect

from atoms_core.protocol.timeline import CommandSeen, HeadMoved, Partition, StoredEvent, StoredSnapshot, within


class _Log:
    __slots__ = ("events", "head", "results", "snapshot")

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.head = 0
        self.results: dict[str, str] = {}
        self.snapshot: StoredSnapshot | None = None


class MemoryStore:
    def __init__(self) -> None:
        self._logs: dict[Partition, _Log] = {}

    def _log(self, partition: Partition) -> _Log:
        log = self._logs.get(partition)
        if log is None:
            log = self._logs[partition] = _Log()
        return log

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def append(self, partition: Partition, expected_head: int, events: list[StoredEvent],
                     results: dict[str, str]) -> None:
        log = self._log(partition)
        if log.head != expected_head:
            raise HeadMoved(log.head)
        if not log.results.keys().isdisjoint(results):
            raise CommandSeen()
        log.events.extend(events)
        if events:
            log.head = events[-1].seq
        log.results.update(results)

    async def read(self, partition: Partition, after: int, limit: int,
                   max_bytes: int | None = None) -> list[StoredEvent]:
        events = self._log(partition).events
        start = bisect.bisect_right(events, after, key=lambda e: e.seq)
        return within(events[start:start + limit], max_bytes)

    async def bounds(self, partition: Partition) -> tuple[int, int]:
        log = self._log(partition)
        first = log.events[0].seq if log.events else log.head + 1
        return first, log.head

    async def lookup(self, partition: Partition, command_ids: list[str]) -> dict[str, str]:
        results = self._log(partition).results
        return {cid: results[cid] for cid in command_ids if cid in results}

    async def save_snapshot(self, partition: Partition, snapshot: StoredSnapshot) -> None:
        self._log(partition).snapshot = snapshot

    async def latest_snapshot(self, partition: Partition) -> StoredSnapshot | None:
        return self._log(partition).snapshot

    async def prune(self, partition: Partition, through_seq: int) -> None:
        log = self._log(partition)
        log.events = [e for e in log.events if e.seq > through_seq]
