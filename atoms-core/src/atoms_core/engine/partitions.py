"""Partitions of this process: the one object endpoints and the cross-node fan-out talk to.

It wires the parts, each in its own module: the state cache (``cache.py``), group commit
(``group_commit.py``), deciding a group (``decide.py``), snapshots and compaction (``snapshots.py``);
all of them read the timeline through ``reader.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from atoms_core.engine.cache import PartitionCache, PartitionLog, Watcher
from atoms_core.engine.decide import Decider
from atoms_core.engine.group_commit import CommandObserver, GroupCommit
from atoms_core.engine.hub import Hub
from atoms_core.engine.snapshots import Compaction, SnapshotSink
from atoms_core.protocol.codes import ResyncReason
from atoms_core.protocol.contracts import CommandEnvelope, CommandResult
from atoms_core.protocol.patch import Limits
from atoms_core.protocol.timeline import Partition, TimelineStore

__all__ = ["PartitionLog", "Partitions", "Watcher"]  # a PartitionLog is what ``get`` hands out


class Partitions:
    def __init__(self, store: TimelineStore, hub: Hub, snapshots: SnapshotSink, observer: CommandObserver,
                 snapshot_every: int, retention: int, cache_size: int, limits: Limits | None = None,
                 cache_bytes: int = 256 * 1024 * 1024,
                 watcher: Callable[[Partitions], Watcher] | None = None) -> None:
        self.cache = PartitionCache(store, hub, cache_size, cache_bytes)
        limits = limits or Limits()
        self.compaction = Compaction(store, snapshots, snapshot_every, retention, limits.max_bytes)
        self.commits = GroupCommit(self.cache, Decider(limits), self.compaction, observer)
        # Built last: the cross-node watcher (app/redis_node.py) keeps this object.
        self.cache.watcher = watcher(self) if watcher is not None else None

    @property
    def store(self) -> TimelineStore:
        """The timeline store every part reads and writes."""
        return self.cache.store

    @store.setter
    def store(self, store: TimelineStore) -> None:
        self.cache.store = store
        self.compaction.store = store

    @property
    def watcher(self) -> Watcher | None:
        """The cross-node hooks (built by ``app/redis_node.py``); None on a single node."""
        return self.cache.watcher

    @property
    def snapshot_every(self) -> int:
        """Events between automatic snapshots (0: none)."""
        return self.compaction.snapshot_every

    @snapshot_every.setter
    def snapshot_every(self, every: int) -> None:
        self.compaction.snapshot_every = every

    @property
    def live(self) -> bool:
        """False while this process cannot hear other nodes' commits (its cache may be stale)."""
        return self.cache.live

    @property
    def cached_bytes(self) -> int:
        """Encoded bytes of every cached state (``state_cache_bytes`` bounds it, busy partitions aside)."""
        return self.cache.cached_bytes

    async def get(self, partition: Partition) -> PartitionLog:
        return await self.cache.get(partition)

    def cached(self, partition: Partition) -> PartitionLog | None:
        return self.cache.cached(partition)

    async def catch_up(self, plog: PartitionLog, head: int | None = None) -> None:
        """Apply events other writers appended (other nodes) and publish them locally."""
        await self.cache.catch_up(plog, head)

    async def reload(self, plog: PartitionLog, reason: ResyncReason) -> None:
        """Rebuild the cache from the store (its history was lost) and tell local subscribers to resync."""
        await self.cache.reload(plog, reason)

    def submit(self, partition: Partition, actor: str,
               commands: list[CommandEnvelope]) -> Coroutine[Any, Any, list[CommandResult]]:
        """Commit ``commands`` in the partition's next group; awaiting it gives their results. (The group
        commit's own coroutine, not a wrapper: the hot path pays no extra frame per command.)"""
        return self.commits.submit(partition, actor, commands)

    async def drain(self) -> None:
        """Wait for in-flight commits (shutdown)."""
        await self.commits.drain()
