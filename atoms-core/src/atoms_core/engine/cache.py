"""The materialised state of the partitions this process serves: an LRU bounded in partitions and bytes.

A partition is loaded once however many callers ask at the same time (single flight), from its latest
snapshot plus the timeline after it; it is brought up to date with other writers' events (``catch_up``)
or rebuilt when the store lost what it was built on (``reload``), and local subscribers hear either.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from atoms_core.engine import reader
from atoms_core.engine.hub import Hub
from atoms_core.protocol.codes import ResyncReason
from atoms_core.protocol.contracts import CommandEnvelope, CommandResult
from atoms_core.protocol.errors import Unavailable
from atoms_core.protocol.state import StreamState, apply_event
from atoms_core.protocol.timeline import Partition, StoredEvent, StoreUnavailable, TimelineStore, page_bytes
from atoms_core.protocol.wire import resync_frames

#: A rebuild yields to the loop once it has run this long (seconds), so other streams are served meanwhile.
REPLAY_SLICE_S = 0.02


class Watcher(Protocol):
    """Cross-node hooks (``stores/redis_fanout.py``): which partitions this process caches, and
    whether it hears other nodes' commits right now (if not, it refuses to serve from its cache)."""

    @property
    def live(self) -> bool: ...

    def watch(self, partition: Partition) -> None: ...

    def unwatch(self, partition: Partition) -> None: ...


@dataclass(slots=True)
class Request:
    """One caller's commands, queued on its partition until the next group commit answers ``future``."""

    commands: list[CommandEnvelope]
    actor: str
    future: asyncio.Future[list[CommandResult]]


@dataclass(slots=True)
class PartitionLog:
    partition: Partition
    state: StreamState
    snapshot_seq: int
    #: Bodies' bytes of the events after the last snapshot: what the next rebuild would replay.
    unsnapshotted: int = 0
    pending: list[Request] = field(default_factory=list)
    flushing: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one commit or catch-up at a time


class PartitionCache:
    def __init__(self, store: TimelineStore, hub: Hub, cache_size: int, cache_bytes: int) -> None:
        self.store = store
        self.hub = hub
        self.cache_size = cache_size
        #: Bound on the encoded bytes of all cached states; idle partitions are evicted past it.
        self.cache_bytes = cache_bytes
        self._bytes = 0
        self._logs: OrderedDict[Partition, PartitionLog] = OrderedDict()
        self._loading: dict[Partition, asyncio.Future[PartitionLog]] = {}
        self.watcher: Watcher | None = None

    @property
    def live(self) -> bool:
        """False while this process cannot hear other nodes' commits (its cache may be stale)."""
        return self.watcher is None or self.watcher.live

    async def get(self, partition: Partition) -> PartitionLog:
        if not self.live:
            raise Unavailable("store_unavailable", "the timeline store is unreachable from this node; retry")
        plog = self._logs.get(partition)
        if plog is not None:
            self._logs.move_to_end(partition)
            return plog
        loading = self._loading.get(partition)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[PartitionLog] = asyncio.get_running_loop().create_future()
        self._loading[partition] = future
        try:
            plog = await self._load(partition)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: concurrent waiters re-raise it themselves
            raise
        finally:
            self._loading.pop(partition, None)
        self._logs[partition] = plog
        self._bytes += plog.state.size
        future.set_result(plog)
        if self.watcher is not None:
            self.watcher.watch(partition)
        self.evict()
        return plog

    async def _load(self, partition: Partition) -> PartitionLog:
        try:
            snap = await self.store.latest_snapshot(partition)
            state = StreamState.from_json(json.loads(snap.state_json)) if snap else StreamState()
            state, replayed = await self._replay(partition, state)
        except StoreUnavailable as exc:
            raise Unavailable("store_unavailable", "the timeline store is unreachable") from exc
        return PartitionLog(partition, state, snap.seq if snap else 0, replayed)

    async def _replay(self, partition: Partition, state: StreamState,
                      collect: list[StoredEvent] | None = None) -> tuple[StreamState, int]:
        """``state`` with the stored events after it applied, a page (bounded in bytes) at a time,
        yielding to the loop every ``REPLAY_SLICE_S``; and the bytes of their bodies."""
        replayed = 0
        started = time.perf_counter()
        async for page in reader.contiguous(self.store, partition, state.seq, max_bytes=reader.READ_PAGE_BYTES):
            for event in page:
                if time.perf_counter() - started > REPLAY_SLICE_S:
                    await asyncio.sleep(0)
                    started = time.perf_counter()
                state = apply_event(state, event.seq, event.type, reader.stored_data(event))
            if collect is not None:
                collect.extend(page)
            replayed += page_bytes(page)
        return state, replayed

    async def catch_up(self, plog: PartitionLog, head: int | None = None) -> None:
        """Apply events other writers appended (other nodes) and publish them locally.

        ``head``, if given, is the store head a notification announced: nothing to do at or below it.
        """
        async with plog.lock:
            if head is None or head > plog.state.seq:
                await self.catch_up_locked(plog)

    async def reload(self, plog: PartitionLog, reason: ResyncReason) -> None:
        """Rebuild the cache from the store (its history was lost) and tell local subscribers to resync."""
        async with plog.lock:
            await self._reload(plog, reason)

    async def catch_up_locked(self, plog: PartitionLog) -> None:
        """``catch_up`` for a caller that holds ``plog.lock`` (a commit whose head moved)."""
        fresh: list[StoredEvent] = []
        try:
            state, replayed = await self._replay(plog.partition, plog.state, fresh)
        except reader.TimelineGap:
            await self._reload(plog, ResyncReason.HISTORY_PRUNED)
            return
        if fresh:
            self.set_state(plog, state)
            plog.unsnapshotted += replayed
            self.hub.publish_events(plog.partition, fresh)
            return
        _, head = await self.store.bounds(plog.partition)
        if head < plog.state.seq:  # the store lost what this cache was built on
            await self._reload(plog, ResyncReason.HISTORY_LOST)

    async def _reload(self, plog: PartitionLog, reason: ResyncReason) -> None:
        fresh = await self._load(plog.partition)
        changed = fresh.state != plog.state  # e.g. this process already rebuilt it and wrote on top
        self.set_state(plog, fresh.state)
        plog.snapshot_seq = fresh.snapshot_seq
        plog.unsnapshotted = fresh.unsnapshotted
        if changed:
            self.hub.publish(plog.partition, resync_frames(plog.partition.stream_id, plog.state, reason))

    def set_state(self, plog: PartitionLog, state: StreamState) -> None:
        if self._logs.get(plog.partition) is plog:  # an evicted log no longer counts
            self._bytes += state.size - plog.state.size
        plog.state = state

    @property
    def cached_bytes(self) -> int:
        """Encoded bytes of every cached state (``state_cache_bytes`` bounds it, busy partitions aside)."""
        return self._bytes

    def evict(self) -> None:
        """Drop least recently used idle partitions while the cache holds more than ``cache_size``
        partitions or ``cache_bytes`` bytes; one with subscribers or commands in flight stays."""
        while len(self._logs) > self.cache_size or self._bytes > self.cache_bytes:
            for partition, plog in self._logs.items():
                if not plog.flushing and not plog.pending and not self.hub.has_subscribers(partition):
                    del self._logs[partition]
                    self._bytes -= plog.state.size
                    if self.watcher is not None:
                        self.watcher.unwatch(partition)
                    break
            else:
                return

    def cached(self, partition: Partition) -> PartitionLog | None:
        return self._logs.get(partition)
