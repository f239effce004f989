"""The one TimelineStore contract (``protocol/timeline.py``), run against every engine.

Each test uses partitions of its own, so the Redis engine shares one real ``redis-server`` per module.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from atoms_core.protocol.timeline import (
    CommandSeen,
    HeadMoved,
    Partition,
    StoredEvent,
    StoredSnapshot,
    StoreUnavailable,
    TimelineStore,
    page_bytes,
)
from atoms_core.stores.memory import MemoryStore
from atoms_core.stores.redis import RedisStore
from atoms_core.stores.sqlite import SqliteStore
from redis_server import RedisServer, running_redis

ENGINES = ["memory", "sqlite", "redis"]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


def make_store(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> TimelineStore:
    if engine == "memory":
        return MemoryStore()
    if engine == "sqlite":
        return SqliteStore(tmp_path / "timeline.db")
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisStore(server.url)


@pytest.fixture(params=ENGINES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TimelineStore]:
    engine = make_store(request.param, tmp_path, request)
    await engine.open()
    yield engine
    await engine.close()


@pytest.fixture
def part() -> Partition:
    return Partition(f"t-{uuid.uuid4().hex[:8]}", "canvas:c1")


def events(first: int, last: int, kind: str = "state_patch") -> list[StoredEvent]:
    return [StoredEvent(seq, kind, f'{{"seq":{seq},"data":"é-{seq}"}}') for seq in range(first, last + 1)]


async def test_read_returns_events_after_the_cursor_in_order(store: TimelineStore, part: Partition) -> None:
    await store.append(part, 0, events(1, 3), {})
    await store.append(part, 3, events(4, 5, "log"), {})
    got = await store.read(part, 2, 100)
    assert [e.seq for e in got] == [3, 4, 5]
    assert got[0] == events(3, 3)[0]
    assert got[-1].type == "log"
    assert await store.read(part, 5, 100) == []


async def test_read_honours_the_limit(store: TimelineStore, part: Partition) -> None:
    await store.append(part, 0, events(1, 10), {})
    assert [e.seq for e in await store.read(part, 0, 4)] == [1, 2, 3, 4]
    assert [e.seq for e in await store.read(part, 8, 4)] == [9, 10]


async def test_read_stops_once_the_bodies_reach_max_bytes(store: TimelineStore, part: Partition) -> None:
    """A rebuild reads pages bounded in bytes as well as in events (a page of 1000 events of 1 MB
    each held 1 GB): the shortest run whose bodies reach ``max_bytes``, at least one event."""
    sized = [StoredEvent(seq, "state_patch", '{"v":"' + "x" * (100 if seq % 3 else 300_000) + '"}')
             for seq in range(1, 41)]
    await store.append(part, 0, sized, {})
    assert await store.read(part, 0, 100, max_bytes=None) == sized
    assert await store.read(part, 0, 100, max_bytes=600_000) == sized[:6]  # seqs 3 and 6 are large
    assert await store.read(part, 2, 100, max_bytes=10) == sized[2:3]
    assert await store.read(part, 0, 4, max_bytes=10_000_000) == sized[:4]
    assert await store.read(part, 36, 100, max_bytes=10_000_000) == sized[36:]
    small = events(41, 240)
    await store.append(part, 40, small, {})
    assert await store.read(part, 40, 150, max_bytes=10_000_000) == small[:150]
    assert await store.read(part, 40, 500, max_bytes=page_bytes(small[:100])) == small[:100]


async def test_bounds_of_an_untouched_partition_are_empty(store: TimelineStore, part: Partition) -> None:
    assert await store.bounds(part) == (1, 0)
    assert await store.read(part, 0, 10) == []
    assert await store.latest_snapshot(part) is None
    assert await store.lookup(part, ["nope"]) == {}


async def test_bounds_follow_appends(store: TimelineStore, part: Partition) -> None:
    await store.append(part, 0, events(1, 7), {})
    assert await store.bounds(part) == (1, 7)


async def test_stale_expected_head_raises_head_moved_and_commits_nothing(store: TimelineStore,
                                                                         part: Partition) -> None:
    await store.append(part, 0, events(1, 2), {"a": "ra"})
    with pytest.raises(HeadMoved) as moved:
        await store.append(part, 1, events(2, 3), {"b": "rb"})
    assert moved.value.head == 2
    assert [e.seq for e in await store.read(part, 0, 10)] == [1, 2]
    assert await store.lookup(part, ["a", "b"]) == {"a": "ra"}
    assert await store.bounds(part) == (1, 2)


async def test_concurrent_writers_on_one_head_let_exactly_one_win(store: TimelineStore, part: Partition) -> None:
    outcomes = await asyncio.gather(
        *(store.append(part, 0, [StoredEvent(1, "log", f'{{"writer":{i}}}')], {f"c{i}": str(i)})
          for i in range(5)),
        return_exceptions=True,
    )
    winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1
    assert all(isinstance(o, HeadMoved) and o.head == 1 for o in outcomes if o is not None)
    [event] = await store.read(part, 0, 10)
    assert event.body == f'{{"writer":{winners[0]}}}'
    assert await store.lookup(part, [f"c{i}" for i in range(5)]) == {f"c{winners[0]}": str(winners[0])}


async def test_lookup_returns_stored_results_and_omits_unknown_ids(store: TimelineStore, part: Partition) -> None:
    await store.append(part, 0, events(1, 2), {"cmd-1": '{"seq":1}', "cmd-2": '{"seq":2}'})
    assert await store.lookup(part, ["cmd-2", "unknown", "cmd-1"]) == {"cmd-1": '{"seq":1}', "cmd-2": '{"seq":2}'}
    assert await store.lookup(part, []) == {}


async def test_a_command_id_seen_before_raises_command_seen_and_commits_nothing(store: TimelineStore,
                                                                                part: Partition) -> None:
    await store.append(part, 0, events(1, 1), {"seen": '{"seq":1}'})
    with pytest.raises(CommandSeen):
        await store.append(part, 1, events(2, 3), {"fresh": '{"seq":2}', "seen": '{"seq":3}'})
    assert await store.bounds(part) == (1, 1)
    assert await store.lookup(part, ["seen", "fresh"]) == {"seen": '{"seq":1}'}
    await store.append(part, 1, events(2, 2), {"fresh": '{"seq":2}'})
    assert await store.bounds(part) == (1, 2)


async def test_results_without_events_keep_the_head(store: TimelineStore, part: Partition) -> None:
    await store.append(part, 0, events(1, 1), {})
    await store.append(part, 1, [], {"dup": '{"seq":1,"duplicate":true}'})
    assert await store.bounds(part) == (1, 1)
    assert await store.lookup(part, ["dup"]) == {"dup": '{"seq":1,"duplicate":true}'}
    await store.append(part, 1, events(2, 2), {})
    assert await store.bounds(part) == (1, 2)


async def test_large_event_bodies_read_back_whole_among_small_ones_and_prune(store: TimelineStore,
                                                                             part: Partition) -> None:
    big = [StoredEvent(seq, "state_patch", '{"v":"' + chr(0x41 + seq) * (200_000 + seq) + '"}') for seq in (2, 4)]
    mixed = [events(1, 1)[0], big[0], events(3, 3)[0], big[1], events(5, 5)[0]]
    await store.append(part, 0, mixed, {})
    assert await store.read(part, 0, 10) == mixed
    assert await store.read(part, 1, 2) == mixed[1:3]
    await store.prune(part, 2)
    assert await store.read(part, 0, 10) == mixed[2:]
    await store.prune(part, 5)
    assert await store.read(part, 0, 10) == []


async def test_latest_snapshot_is_the_highest_saved(store: TimelineStore, part: Partition) -> None:
    await store.append(part, 0, events(1, 9), {})
    await store.save_snapshot(part, StoredSnapshot(4, '{"doc":4}'))
    await store.save_snapshot(part, StoredSnapshot(8, '{"doc":8}'))
    assert await store.latest_snapshot(part) == StoredSnapshot(8, '{"doc":8}')


@pytest.mark.parametrize("engine", ["sqlite", "redis"])
async def test_an_older_snapshot_never_replaces_a_newer_one(engine: str, tmp_path: Path,
                                                            request: pytest.FixtureRequest, part: Partition) -> None:
    """Several nodes may save snapshots out of order; pruning relies on the newest one staying."""
    store = make_store(engine, tmp_path, request)
    await store.open()
    try:
        await store.save_snapshot(part, StoredSnapshot(8, '{"doc":8}'))
        await store.save_snapshot(part, StoredSnapshot(4, '{"doc":4}'))
        assert await store.latest_snapshot(part) == StoredSnapshot(8, '{"doc":8}')
    finally:
        await store.close()


async def test_prune_drops_events_through_seq_and_keeps_the_head(store: TimelineStore, part: Partition) -> None:
    await store.append(part, 0, events(1, 10), {"c": "r"})
    await store.prune(part, 6)
    assert await store.bounds(part) == (7, 10)
    assert [e.seq for e in await store.read(part, 0, 100)] == [7, 8, 9, 10]
    await store.append(part, 10, events(11, 11), {})
    assert [e.seq for e in await store.read(part, 9, 100)] == [10, 11]
    assert await store.lookup(part, ["c"]) == {"c": "r"}


async def test_pruning_everything_leaves_an_empty_window_at_the_head(store: TimelineStore,
                                                                     part: Partition) -> None:
    await store.append(part, 0, events(1, 3), {})
    await store.prune(part, 3)
    assert await store.bounds(part) == (4, 3)
    assert await store.read(part, 0, 10) == []
    with pytest.raises(HeadMoved):
        await store.append(part, 0, events(1, 1), {})
    await store.append(part, 3, events(4, 4), {})
    assert await store.bounds(part) == (4, 4)


OTHERS: dict[str, Callable[[str], Partition]] = {
    "other-tenant": lambda t: Partition(t + "-other", "canvas:c1"),
    "other-stream": lambda t: Partition(t, "canvas:c2"),
    "other-kind": lambda t: Partition(t, "thread:c1"),
    "colon-shift": lambda t: Partition(t + ":canvas", "c1"),  # must not alias (t, "canvas:c1")
    "braces": lambda t: Partition(t + "}{x", "canvas:c1"),  # stays inside its own hash tag
}


@pytest.mark.parametrize("other_of", OTHERS.values(), ids=OTHERS.keys())
async def test_partitions_are_isolated(store: TimelineStore, part: Partition,
                                       other_of: Callable[[str], Partition]) -> None:
    other = other_of(part.tenant_id)
    await store.append(part, 0, events(1, 3), {"shared-id": "mine"})
    await store.save_snapshot(part, StoredSnapshot(2, "{}"))
    assert await store.bounds(other) == (1, 0)
    assert await store.read(other, 0, 10) == []
    assert await store.lookup(other, ["shared-id"]) == {}
    assert await store.latest_snapshot(other) is None
    await store.append(other, 0, events(1, 1), {"shared-id": "theirs"})
    await store.prune(other, 1)
    assert await store.bounds(part) == (1, 3)
    assert await store.lookup(part, ["shared-id"]) == {"shared-id": "mine"}


@pytest.mark.parametrize("engine", ["sqlite", "redis"])
async def test_a_reopened_store_keeps_everything(engine: str, tmp_path: Path, request: pytest.FixtureRequest,
                                                 part: Partition) -> None:
    first = make_store(engine, tmp_path, request)
    await first.open()
    await first.append(part, 0, events(1, 4), {"c": "r"})
    await first.save_snapshot(part, StoredSnapshot(3, '{"doc":3}'))
    await first.prune(part, 2)
    await first.close()
    second = make_store(engine, tmp_path, request)
    await second.open()
    try:
        assert await second.bounds(part) == (3, 4)
        assert [e.seq for e in await second.read(part, 0, 10)] == [3, 4]
        assert await second.lookup(part, ["c"]) == {"c": "r"}
        assert await second.latest_snapshot(part) == StoredSnapshot(3, '{"doc":3}')
    finally:
        await second.close()


async def test_opening_an_open_store_again_changes_nothing(store: TimelineStore, part: Partition) -> None:
    """``atoms serve`` opens the store before uvicorn starts; the app's lifespan opens it again."""
    await store.append(part, 0, events(1, 2), {"c": "r"})
    await store.open()
    assert await store.bounds(part) == (1, 2)
    await store.append(part, 2, events(3, 3), {})
    assert await store.lookup(part, ["c"]) == {"c": "r"}
    assert await store.ping()


async def test_a_second_sqlite_store_on_the_same_file_is_refused_until_the_first_closes(tmp_path: Path,
                                                                                        part: Partition) -> None:
    """One process owns the embedded database: a second server on the same data dir fails to start."""
    first = SqliteStore(tmp_path / "timeline.db")
    await first.open()
    await first.append(part, 0, events(1, 1), {})
    second = SqliteStore(tmp_path / "timeline.db")
    with pytest.raises(StoreUnavailable, match="in use by another process"):
        await second.open()
    await first.close()
    await second.open()
    try:
        assert await second.bounds(part) == (1, 1)
    finally:
        await second.close()
