"""Snapshots of a partition's state and compaction of its timeline behind them.

A ``snapshot.create`` command (or the automatic one every ``snapshot_every`` events) captures the
state once: as an artifact (stored before its ``snapshot_created`` event is committed, so the event
never names a missing artifact) and as the engine's snapshot a later load starts from. After a snapshot,
events older than both it and the last ``retention`` events are pruned.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from atoms_core.engine.cache import PartitionLog, Request
from atoms_core.protocol.artifacts import ArtifactRecord, snapshot_info, snapshot_record
from atoms_core.protocol.contracts import CommandEnvelope, CommandResult, CommandType
from atoms_core.protocol.encoding import dumps
from atoms_core.protocol.state import StreamState
from atoms_core.protocol.timeline import Partition, StoredSnapshot, StoreUnavailable, TimelineStore

SYSTEM_ACTOR = "atoms"


class SnapshotSink(Protocol):
    def put_snapshot(self, partition: Partition, record: ArtifactRecord, blob: bytes) -> None:
        """Store a state snapshot as the artifact ``record`` (blocking: it runs in a worker thread,
        so an S3 upload never stalls the event loop)."""
        ...


def capture(state: StreamState, seq: int) -> tuple[dict[str, Any], StoredSnapshot, tuple[ArtifactRecord, bytes]]:
    """The state as of ``seq`` (a snapshot_created event changes nothing): the event's data, the
    engine's snapshot, and the artifact, which the group commit stores before the event."""
    doc = dumps(state.doc)  # encoded once: the artifact and the engine's snapshot share it
    blob = doc.encode()
    record = snapshot_record(blob)
    data = {**snapshot_info(record), "seq": seq, "version": state.version}
    stored = f'{{"doc":{doc},"seq":{seq},"version":{state.version},"tokens":{dumps(state.tokens)}}}'
    return data, StoredSnapshot(seq, stored), (record, blob)


class Compaction:
    def __init__(self, store: TimelineStore, sink: SnapshotSink, snapshot_every: int, retention: int,
                 snapshot_bytes: int = 8 * 1024 * 1024) -> None:
        self.store = store
        self.sink = sink
        self.snapshot_every = snapshot_every
        self.retention = retention
        #: An automatic snapshot is also due once the events after the last one weigh this much
        #: (``state_max_bytes``: a snapshot is never larger), so a rebuild replays about this at most.
        self.snapshot_bytes = snapshot_bytes

    async def store_artifacts(self, partition: Partition, blobs: list[tuple[ArtifactRecord, bytes]]) -> None:
        """Store captured snapshots as artifacts, before the commit of the events that name them."""
        for record, blob in blobs:
            try:
                await asyncio.to_thread(self.sink.put_snapshot, partition, record, blob)
            except Exception as exc:  # the artifact store (disk, S3) is down: retryable, like the timeline
                raise StoreUnavailable(f"snapshot not stored: {exc}") from exc

    async def save(self, plog: PartitionLog, snapshots: list[StoredSnapshot]) -> None:
        """Keep committed snapshots as the engine's, for the next load of ``plog``'s partition."""
        for snapshot in snapshots:
            await self.store.save_snapshot(plog.partition, snapshot)
            plog.snapshot_seq = max(plog.snapshot_seq, snapshot.seq)
            if snapshot.seq == plog.state.seq:  # events committed after it still count
                plog.unsnapshotted = 0

    def schedule(self, plog: PartitionLog) -> None:
        """Queue an automatic snapshot once ``snapshot_every`` events, or ``snapshot_bytes`` of them,
        have passed since the last one."""
        if self.snapshot_every and plog.state.seq > plog.snapshot_seq and (
                plog.state.seq - plog.snapshot_seq >= self.snapshot_every or plog.unsnapshotted >= self.snapshot_bytes):
            plog.snapshot_seq = plog.state.seq  # one automatic snapshot per interval, even if it fails
            plog.unsnapshotted = 0
            command = CommandEnvelope(command_id=f"auto-snapshot-{plog.state.seq}",
                                      type=CommandType.SNAPSHOT_CREATE, stream_id=plog.partition.stream_id)
            future: asyncio.Future[list[CommandResult]] = asyncio.get_running_loop().create_future()
            future.add_done_callback(lambda f: f.exception())
            plog.pending.append(Request([command], SYSTEM_ACTOR, future))

    async def prune(self, plog: PartitionLog) -> None:
        through = min(plog.snapshot_seq, plog.state.seq - self.retention)
        if through > 0:
            await self.store.prune(plog.partition, through)
