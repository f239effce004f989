"""Partitions of this process: the materialised state per (tenant, stream) and group commit.

Commands for one partition queue up while a commit is in flight and are then decided and
committed together in one store transaction (group commit). Each request's commands are
all-or-nothing; a refused request does not affect the others of its group. After the commit the
new events are encoded once and published to the local hub for that partition only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from atoms_core.engine.hub import Hub
from atoms_core.protocol.artifacts import ArtifactRecord, snapshot_info, snapshot_record
from atoms_core.protocol.codes import ResyncReason
from atoms_core.protocol.commands import decide
from atoms_core.protocol.contracts import CommandEnvelope, CommandResult, CommandType
from atoms_core.protocol.encoding import dumps, now_iso
from atoms_core.protocol.errors import AtomsError, Unavailable
from atoms_core.protocol.patch import Limits
from atoms_core.protocol.state import StreamState, apply_event
from atoms_core.protocol.timeline import (
    CommandSeen,
    HeadMoved,
    Partition,
    StoredEvent,
    StoredSnapshot,
    StoreUnavailable,
    TimelineStore,
)
from atoms_core.protocol.wire import event_envelope, event_frames, resync_frames

log = logging.getLogger("atoms.partitions")

SYSTEM_ACTOR = "atoms"
READ_PAGE = 1000
MAX_HEAD_RETRIES = 16
#: Deciding a group yields to the event loop between commands once it has held it this long, so
#: a large batch (or many requests in one group commit) cannot stall other partitions.
DECIDE_SLICE_S = 0.02


class SnapshotSink(Protocol):
    def put_snapshot(self, partition: Partition, record: ArtifactRecord, blob: bytes) -> None:
        """Store a state snapshot as the artifact ``record`` (blocking: it runs in a worker thread,
        so an S3 upload never stalls the event loop)."""
        ...


class Watcher(Protocol):
    """Cross-node hooks (``stores/redis_fanout.py``): which partitions this process caches, and
    whether it hears other nodes' commits right now (if not, it refuses to serve from its cache)."""

    @property
    def live(self) -> bool: ...

    def watch(self, partition: Partition) -> None: ...

    def unwatch(self, partition: Partition) -> None: ...


def stored_data(event: StoredEvent) -> Any:
    """An event's ``data`` as stored; a body that no longer decodes is a store fault (503), not a 500."""
    try:
        return json.loads(event.body)["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreUnavailable(f"stored event {event.seq} is damaged") from exc


class TimelineGap(StoreUnavailable):
    """The store no longer holds the events right after the cached seq (pruned or lost)."""


class CommandObserver(Protocol):
    def accepted(self, partition: Partition, actor: str, command: CommandEnvelope, seq: int) -> None: ...

    def refused(self, partition: Partition, actor: str, command: CommandEnvelope | None,
                error: AtomsError) -> None: ...

    def committed(self) -> None: ...  # a group's outcomes are observed; its replies go out next


@dataclass(slots=True)
class _Request:
    commands: list[CommandEnvelope]
    actor: str
    future: asyncio.Future[list[CommandResult]]


@dataclass(slots=True)
class PartitionLog:
    partition: Partition
    state: StreamState
    snapshot_seq: int
    pending: list[_Request] = field(default_factory=list)
    flushing: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one commit or catch-up at a time


@dataclass(slots=True)
class _Outcome:
    """The effect of deciding one group: events to append and per-request results or errors."""

    state: StreamState
    events: list[StoredEvent] = field(default_factory=list)
    results: dict[str, str] = field(default_factory=dict)
    replies: list[list[CommandResult] | AtomsError] = field(default_factory=list)
    snapshots: list[StoredSnapshot] = field(default_factory=list)
    #: Snapshot artifacts to store before the commit.
    blobs: list[tuple[ArtifactRecord, bytes]] = field(default_factory=list)


def result_json(result: CommandResult) -> str:
    return dumps(result.model_dump())


def decode_result(raw: str) -> CommandResult:
    result = CommandResult.model_validate_json(raw)
    result.duplicate = True
    return result


class Partitions:
    def __init__(self, store: TimelineStore, hub: Hub, snapshots: SnapshotSink, observer: CommandObserver,
                 snapshot_every: int, retention: int, cache_size: int, limits: Limits | None = None,
                 cache_bytes: int = 256 * 1024 * 1024, watcher: Callable[[Partitions], Watcher] | None = None) -> None:
        self.store = store
        self.hub = hub
        self.snapshots = snapshots
        self.observer = observer
        self.snapshot_every = snapshot_every
        self.retention = retention
        self.cache_size = cache_size
        #: What a live command may produce (replay is never limited: committed events always apply).
        self.limits = limits or Limits()
        #: Bound on the encoded bytes of all cached states; idle partitions are evicted past it.
        self.cache_bytes = cache_bytes
        self._bytes = 0
        self._logs: OrderedDict[Partition, PartitionLog] = OrderedDict()
        self._loading: dict[Partition, asyncio.Future[PartitionLog]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.watcher: Watcher | None = watcher(self) if watcher is not None else None  # built last: it keeps self

    # --- loading -------------------------------------------------------------------------

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
        self._evict()
        return plog

    async def _load(self, partition: Partition) -> PartitionLog:
        try:
            snap = await self.store.latest_snapshot(partition)
            state = StreamState.from_json(json.loads(snap.state_json)) if snap else StreamState()
            state = await self._replay(partition, state)
        except StoreUnavailable as exc:
            raise Unavailable("store_unavailable", "the timeline store is unreachable") from exc
        return PartitionLog(partition, state, snap.seq if snap else 0)

    async def _replay(self, partition: Partition, state: StreamState,
                      collect: list[StoredEvent] | None = None) -> StreamState:
        while True:
            page = await self.store.read(partition, state.seq, READ_PAGE)
            for event in page:
                if event.seq != state.seq + 1:
                    raise TimelineGap(f"timeline gap at {state.seq + 1} in {partition}")
                state = apply_event(state, event.seq, event.type, stored_data(event))
            if collect is not None:
                collect.extend(page)
            if len(page) < READ_PAGE:
                return state

    async def catch_up(self, plog: PartitionLog, head: int | None = None) -> None:
        """Apply events other writers appended (other nodes) and publish them locally.

        ``head``, if given, is the store head a notification announced: nothing to do at or below it.
        """
        async with plog.lock:
            if head is None or head > plog.state.seq:
                await self._catch_up(plog)

    async def reload(self, plog: PartitionLog, reason: ResyncReason) -> None:
        """Rebuild the cache from the store (its history was lost) and tell local subscribers to resync."""
        async with plog.lock:
            await self._reload(plog, reason)

    async def _catch_up(self, plog: PartitionLog) -> None:
        fresh: list[StoredEvent] = []
        try:
            state = await self._replay(plog.partition, plog.state, fresh)
        except TimelineGap:
            await self._reload(plog, ResyncReason.HISTORY_PRUNED)
            return
        if fresh:
            self._set_state(plog, state)
            self.hub.publish(plog.partition, event_frames(fresh))
            return
        _, head = await self.store.bounds(plog.partition)
        if head < plog.state.seq:  # the store lost what this cache was built on
            await self._reload(plog, ResyncReason.HISTORY_LOST)

    async def _reload(self, plog: PartitionLog, reason: ResyncReason) -> None:
        fresh = await self._load(plog.partition)
        changed = fresh.state != plog.state  # e.g. this process already rebuilt it and wrote on top
        self._set_state(plog, fresh.state)
        plog.snapshot_seq = fresh.snapshot_seq
        if changed:
            self.hub.publish(plog.partition, resync_frames(plog.partition.stream_id, plog.state, reason))

    def _set_state(self, plog: PartitionLog, state: StreamState) -> None:
        if self._logs.get(plog.partition) is plog:  # an evicted log no longer counts
            self._bytes += state.size - plog.state.size
        plog.state = state

    @property
    def cached_bytes(self) -> int:
        """Encoded bytes of every cached state (``state_cache_bytes`` bounds it, busy partitions aside)."""
        return self._bytes

    def _evict(self) -> None:
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

    # --- commands ------------------------------------------------------------------------

    async def submit(self, partition: Partition, actor: str, commands: list[CommandEnvelope]) -> list[CommandResult]:
        plog = await self.get(partition)
        future: asyncio.Future[list[CommandResult]] = asyncio.get_running_loop().create_future()
        plog.pending.append(_Request(commands, actor, future))
        if not plog.flushing:
            plog.flushing = True
            task = asyncio.create_task(self._flush(plog))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _flush(self, plog: PartitionLog) -> None:
        try:
            while plog.pending:
                group, plog.pending = plog.pending, []
                try:
                    async with plog.lock:
                        await self._commit(plog, group)
                except Exception as exc:
                    error: Exception = exc  # a bug: each request answers 500
                    if isinstance(exc, StoreUnavailable | AtomsError):
                        error = Unavailable("store_unavailable", "the timeline store is unreachable; retry")
                    else:
                        log.exception("commit failed for %s", plog.partition)
                    for request in group:
                        if not request.future.done():
                            request.future.set_exception(error)
                self._maybe_compact(plog)
        finally:
            plog.flushing = False

    async def _commit(self, plog: PartitionLog, group: list[_Request]) -> None:
        """Decide optimistically, as if every command were new; look stored results up only when
        the store says a command was seen before, or before refusing one (it may be a retry of a
        command that already succeeded, which gets its first result, not an error)."""
        known: dict[str, str] | None = None
        for _ in range(MAX_HEAD_RETRIES):
            outcome = await self._decide_group(plog, group, known or {})
            if known is None and any(isinstance(reply, AtomsError) for reply in outcome.replies):
                known = await self._lookup(plog, group)
                if known:  # retries of committed commands: decide again, giving them their first results
                    continue
            for record, blob in outcome.blobs:  # a snapshot_created event never names a missing artifact
                try:
                    await asyncio.to_thread(self.snapshots.put_snapshot, plog.partition, record, blob)
                except Exception as exc:  # the artifact store (disk, S3) is down: retryable, like the timeline
                    raise StoreUnavailable(f"snapshot not stored: {exc}") from exc
            try:
                if outcome.events or outcome.results:
                    await self.store.append(plog.partition, plog.state.seq, outcome.events, outcome.results)
            except HeadMoved:
                await self._catch_up(plog)
                known = None  # another writer may have committed one of these commands meanwhile
                continue
            except CommandSeen:
                known = await self._lookup(plog, group)
                continue
            break
        else:
            raise StoreUnavailable("too much write contention on one partition")
        self._set_state(plog, outcome.state)
        if (outcome.events and self.hub.has_subscribers(plog.partition)
                and self.hub.publish(plog.partition, event_frames(outcome.events))):
            # Let the woken SSE writers run before the 202s go out: an ack then means "handed
            # to this node's readers' sockets", and a fast publisher cannot outrun the fan-out.
            await asyncio.sleep(0)
        for snapshot in outcome.snapshots:
            await self.store.save_snapshot(plog.partition, snapshot)
            plog.snapshot_seq = max(plog.snapshot_seq, snapshot.seq)
        for request, reply in zip(group, outcome.replies, strict=True):
            if isinstance(reply, AtomsError):
                self.observer.refused(plog.partition, request.actor, request.commands[0], reply)
                request.future.set_exception(reply)
            else:
                for command, result in zip(request.commands, reply, strict=True):
                    if not result.duplicate:
                        self.observer.accepted(plog.partition, request.actor, command, result.seq)
                request.future.set_result(reply)
        self.observer.committed()  # before any 202 is written: the waiters run on the next loop pass
        if outcome.snapshots:
            await self._prune(plog)
        if self._bytes > self.cache_bytes:
            self._evict()

    async def _lookup(self, plog: PartitionLog, group: list[_Request]) -> dict[str, str]:
        return await self.store.lookup(plog.partition, [c.command_id for r in group for c in r.commands])

    async def _decide_group(self, plog: PartitionLog, group: list[_Request], known: dict[str, str]) -> _Outcome:
        outcome = _Outcome(plog.state)
        ts = now_iso()
        clock = [time.perf_counter()]
        for request in group:
            try:
                outcome.replies.append(await self._decide_request(plog.partition, outcome, request, known, ts,
                                                                  clock))
            except AtomsError as err:
                outcome.replies.append(err)
        return outcome

    async def _decide_request(self, partition: Partition, outcome: _Outcome, request: _Request,
                              known: dict[str, str], ts: str, clock: list[float]) -> list[CommandResult]:
        """All-or-nothing: work on locals, touch ``outcome`` only when every command passed. Yields
        to the loop between commands once ``clock`` (the slice start) is ``DECIDE_SLICE_S`` old; the
        partition's lock is held, so nothing else changes its state meanwhile."""
        state = outcome.state
        events: list[StoredEvent] = []
        results: dict[str, str] = {}
        snapshots: list[StoredSnapshot] = []
        blobs: list[tuple[ArtifactRecord, bytes]] = []
        replies: list[CommandResult] = []
        for command in request.commands:
            if time.perf_counter() - clock[0] > DECIDE_SLICE_S:
                await asyncio.sleep(0)
                clock[0] = time.perf_counter()
            cid = command.command_id
            earlier = known.get(cid) or outcome.results.get(cid) or results.get(cid)
            if earlier is not None:
                replies.append(decode_result(earlier))
                continue
            decision = decide(state, command, request.actor, ts)
            if decision.duplicate_of_seq is not None:
                dup = decision.duplicate_of_seq
                result = CommandResult(command_id=cid, seq=dup, version=state.version,
                                       event_ids=[str(dup)], duplicate=True)
                results[cid] = result_json(result)
                replies.append(result)
                continue
            seq = state.seq + 1
            data = decision.data
            if command.type is CommandType.SNAPSHOT_CREATE:
                data, snapshot, artifact = self._capture(state, seq)
                snapshots.append(snapshot)
                blobs.append(artifact)
            state = apply_event(state, seq, decision.event_type, data, self.limits, decision.blame)
            envelope = event_envelope(seq, partition.stream_id, decision.event_type, state.version, ts,
                                      request.actor, cid, data)
            events.append(StoredEvent(seq, decision.event_type, envelope))
            result = CommandResult(command_id=cid, seq=seq, version=state.version, event_ids=[str(seq)])
            results[cid] = result_json(result)
            replies.append(result)
        outcome.state = state
        outcome.events.extend(events)
        outcome.results.update(results)
        outcome.snapshots.extend(snapshots)
        outcome.blobs.extend(blobs)
        return replies

    @staticmethod
    def _capture(state: StreamState, seq: int
                 ) -> tuple[dict[str, Any], StoredSnapshot, tuple[ArtifactRecord, bytes]]:
        """The state as of ``seq`` (a snapshot_created event changes nothing): the event's data, the
        engine's snapshot, and the artifact, which ``_commit`` stores before the event."""
        doc = dumps(state.doc)  # encoded once: the artifact and the engine's snapshot share it
        blob = doc.encode()
        record = snapshot_record(blob)
        data = {**snapshot_info(record), "seq": seq, "version": state.version}
        stored = f'{{"doc":{doc},"seq":{seq},"version":{state.version},"tokens":{dumps(state.tokens)}}}'
        return data, StoredSnapshot(seq, stored), (record, blob)

    def _maybe_compact(self, plog: PartitionLog) -> None:
        if self.snapshot_every and plog.state.seq - plog.snapshot_seq >= self.snapshot_every:
            plog.snapshot_seq = plog.state.seq  # one automatic snapshot per interval, even if it fails
            command = CommandEnvelope(command_id=f"auto-snapshot-{plog.state.seq}",
                                      type=CommandType.SNAPSHOT_CREATE, stream_id=plog.partition.stream_id)
            future: asyncio.Future[list[CommandResult]] = asyncio.get_running_loop().create_future()
            future.add_done_callback(lambda f: f.exception())
            plog.pending.append(_Request([command], SYSTEM_ACTOR, future))

    async def _prune(self, plog: PartitionLog) -> None:
        through = min(plog.snapshot_seq, plog.state.seq - self.retention)
        if through > 0:
            await self.store.prune(plog.partition, through)

    # --- lifecycle -----------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait for in-flight commits (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
