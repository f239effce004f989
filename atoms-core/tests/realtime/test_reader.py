"""The timeline reader (``engine/reader.py``) over the memory and SQLite engines: every seq in order or a
``TimelineGap``, and what each of its three users makes of a gap (state rebuild, SSE resume, history)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from atoms_core.engine import reader
from atoms_core.engine.hub import Hub
from atoms_core.engine.partitions import Partitions
from atoms_core.protocol.contracts import CommandEnvelope
from atoms_core.protocol.timeline import Partition, TimelineStore
from atoms_core.stores.artifacts.local import LocalArtifactStore
from atoms_core.stores.memory import MemoryStore
from atoms_core.stores.sqlite import SqliteStore

P = Partition("acme", "canvas:reader")


class Quiet:
    def accepted(self, *args: Any) -> None: ...

    def refused(self, *args: Any) -> None: ...

    def committed(self) -> None: ...


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TimelineStore]:
    engine: TimelineStore = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "t.db")
    await engine.open()
    yield engine
    await engine.close()


def node(store: TimelineStore, tmp_path: Path, name: str) -> Partitions:
    return Partitions(store, Hub(), LocalArtifactStore(tmp_path / name), Quiet(), 0, 100, 10)


async def write(parts: Partitions, n: int) -> None:
    for i in range(n):
        await parts.submit(P, "bob", [CommandEnvelope.model_validate({
            "command_id": f"c{i}", "type": "state.patch", "stream_id": P.stream_id,
            "payload": {"ops": [{"op": "add", "path": f"/k{i}", "value": i}]}})])


async def pages(store: TimelineStore, after: int, through: int | None, size: int) -> list[list[int]]:
    return [[e.seq for e in page] async for page in reader.contiguous(store, P, after, through, size)]


async def test_contiguous_reads_every_seq_in_pages_to_the_head_or_a_bound(store: TimelineStore,
                                                                           tmp_path: Path) -> None:
    await write(node(store, tmp_path, "a"), 7)
    assert await pages(store, 0, None, 3) == [[1, 2, 3], [4, 5, 6], [7]]
    assert await pages(store, 2, 6, 3) == [[3, 4, 5], [6]]
    assert await pages(store, 7, None, 3) == []
    assert await pages(store, 7, 7, 3) == []


async def test_contiguous_raises_a_gap_where_events_were_pruned_or_lost(store: TimelineStore,
                                                                         tmp_path: Path) -> None:
    await write(node(store, tmp_path, "a"), 7)
    await store.prune(P, 4)
    for through in (None, 7):
        with pytest.raises(reader.TimelineGap, match="gap at 3"):
            await pages(store, 2, through, 3)
    assert await pages(store, 4, None, 3) == [[5, 6, 7]]
    with pytest.raises(reader.TimelineGap, match="gap at 8"):  # a bound past the store's head
        await pages(store, 4, 9, 10)


async def test_history_pages_start_at_the_first_retained_event(store: TimelineStore, tmp_path: Path) -> None:
    await write(node(store, tmp_path, "a"), 7)
    await store.prune(P, 4)
    assert [e.seq for e in await reader.page(store, P, 0, 2)] == [5, 6]


async def test_a_pruned_store_under_a_live_cache_gives_its_subscribers_a_resync(store: TimelineStore,
                                                                               tmp_path: Path) -> None:
    """Another node wrote and compacted past what this node caches: catching up cannot replay the
    missing events, so the cache is rebuilt and local subscribers are told to resync."""
    here, there = node(store, tmp_path, "a"), node(store, tmp_path, "b")
    await write(here, 2)
    plog = await here.get(P)
    sub = here.cache.hub.subscribe(P, 1 << 20)
    await write(there, 6)  # seqs 3..6 by the other node (command ids 0 and 1 are repeats)
    await there.submit(P, "bob", [CommandEnvelope.model_validate({
        "command_id": "snap", "type": "snapshot.create", "stream_id": P.stream_id})])
    await store.prune(P, 4)  # behind the snapshot (seq 7), as compaction does
    await here.catch_up(plog)
    frames = sub.take().decode()
    assert "event: resync" in frames and '"reason":"history_pruned"' in frames
    assert plog.state == (await node(store, tmp_path, "c").get(P)).state
