"""Properties of the timeline, in process over the memory and SQLite engines:
snapshot + replay equals the live state, and a refused command leaves the timeline unchanged."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoms_core.engine.decide import decode_result, new_result
from atoms_core.engine.hub import Hub
from atoms_core.engine.partitions import Partitions
from atoms_core.protocol.artifacts import ArtifactRecord
from atoms_core.protocol.contracts import CommandEnvelope, CommandResult
from atoms_core.protocol.encoding import dumps
from atoms_core.protocol.errors import AtomsError
from atoms_core.protocol.state import StreamState, apply_event
from atoms_core.protocol.timeline import Partition
from atoms_core.stores.artifacts.local import LocalArtifactStore
from atoms_core.stores.memory import MemoryStore

P = Partition("acme", "canvas:prop")
KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.one_of(st.integers(-5, 5), st.text(max_size=5), st.lists(st.integers(0, 3), max_size=3))

state_patch = st.builds(
    lambda op, key, value: {"type": "state.patch", "payload": {"ops": [
        {"op": op, "path": f"/{key}", "value": value} if op != "remove" else {"op": op, "path": f"/{key}"}]}},
    st.sampled_from(["add", "replace", "remove"]), KEYS, VALUES)
chat = st.builds(lambda text: {"type": "chat.post", "payload": {"role": "user", "text": text}}, st.text(max_size=8))
token = st.builds(lambda i, delta, index: {"type": "token.append", "payload": {
    "target": f"/chat/{i}/text", "delta": delta, "index": index}},
    st.integers(0, 2), st.text(min_size=1, max_size=4), st.integers(0, 3))
snapshot = st.just({"type": "snapshot.create", "payload": {}})
log_cmd = st.just({"type": "log.append", "payload": {"level": "info", "message": "m"}})
conflict = st.builds(lambda v: {"type": "state.patch", "base_version": v,
                                "payload": {"ops": [{"op": "add", "path": "/v", "value": v}]}}, st.integers(0, 6))
COMMANDS = st.lists(st.one_of(state_patch, chat, token, snapshot, log_cmd, conflict), min_size=1, max_size=25)


class Recorder:
    def accepted(self, *args: Any) -> None: ...

    def refused(self, *args: Any) -> None: ...

    def committed(self) -> None: ...


def make(tmp: Path) -> tuple[Partitions, MemoryStore]:
    store = MemoryStore()
    parts = Partitions(store, Hub(), LocalArtifactStore(tmp / "artifacts"), Recorder(), snapshot_every=7,
                       retention=5, cache_size=10)
    return parts, store


async def run(commands: list[dict[str, Any]], tmp: Path) -> None:
    parts, store = make(tmp)
    for i, raw in enumerate(commands):
        envelope = CommandEnvelope.model_validate({**raw, "command_id": f"c{i}", "stream_id": P.stream_id})
        await parts.drain()  # an automatic snapshot may still be committing (its upload runs in a thread)
        before = (await store.bounds(P), await store.read(P, 0, 10_000))
        try:
            await parts.submit(P, "alice", [envelope])
        except AtomsError:
            assert (await store.bounds(P), await store.read(P, 0, 10_000)) == before
    live = (await parts.get(P)).state
    # a fresh process over the same store: latest snapshot + the events after it
    fresh, _ = make(tmp)
    fresh.store = store
    assert (await fresh.get(P)).state == live
    # full replay of the retained events on top of the stored snapshot, by the public rule
    snap = await store.latest_snapshot(P)
    state = StreamState.from_json(json.loads(snap.state_json)) if snap else StreamState()
    for event in await store.read(P, state.seq, 10_000):
        state = apply_event(state, event.seq, event.type, json.loads(event.body)["data"])
    assert state == live
    first, head = await store.bounds(P)
    retained = await store.read(P, 0, 10_000)
    assert [e.seq for e in retained] == list(range(first, head + 1))  # gap-free


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(COMMANDS)
def test_snapshot_plus_replay_equals_live(tmp_path: Path, commands: list[dict[str, Any]]) -> None:
    asyncio.run(run(commands, tmp_path))


async def test_publish_touches_only_its_partition() -> None:
    hub = Hub()
    mine, other = hub.subscribe(P, 1 << 20), hub.subscribe(Partition("globex", P.stream_id), 1 << 20)
    waiting = asyncio.ensure_future(other.wait())
    hub.publish(P, b"id: 1\n\n")
    await asyncio.sleep(0.01)
    assert mine.take() == b"id: 1\n\n"
    assert not waiting.done() and other.take() == b""
    waiting.cancel()


async def test_a_parked_writer_gets_frames_in_place_and_queued_ones_keep_their_order() -> None:
    hub = Hub()
    sub = hub.subscribe(P, 1 << 20)
    written: list[bytes] = []
    socket_ready = True

    def write_now(data: bytes, chunk: bytes) -> bool:
        assert chunk == b"%x\r\n%b\r\n" % (len(data), data)
        if socket_ready:
            written.append(data)
        return socket_ready

    sub.write_now = write_now
    waiting = asyncio.ensure_future(sub.wait())
    await asyncio.sleep(0)  # the writer parks
    assert hub.publish(P, b"1") == 0 and written == [b"1"] and not waiting.done()
    socket_ready = False  # the transport paused: queue and wake the writer
    assert hub.publish(P, b"2") == 1
    await asyncio.sleep(0)
    assert waiting.done()
    socket_ready = True
    hub.publish(P, b"3")  # the writer is not parked: behind "2", never in place
    assert written == [b"1"] and sub.take() == b"23"
    assert (hub.inline_frames, hub.queued_frames) == (1, 2)
    # Woken but not yet run, the writer still looks parked: a queued frame must not be overtaken.
    waiting = asyncio.ensure_future(sub.wait())
    await asyncio.sleep(0)
    socket_ready = False
    hub.publish(P, b"4")
    socket_ready = True
    hub.publish(P, b"5")
    assert written == [b"1"] and sub.take() == b"45"
    await waiting


async def test_snapshot_artifacts_are_stored_off_the_loop_before_their_event(tmp_path: Path) -> None:
    store = MemoryStore()
    local = LocalArtifactStore(tmp_path / "artifacts")
    seen: list[tuple[bool, int]] = []

    class Sink:
        def put_snapshot(self, partition: Partition, record: ArtifactRecord, blob: bytes) -> None:
            head = len(store._log(partition).events)  # what readers could see while it uploads
            seen.append((threading.current_thread() is threading.main_thread(), head))
            local.put_snapshot(partition, record, blob)

    parts = Partitions(store, Hub(), Sink(), Recorder(), snapshot_every=0, retention=100, cache_size=10)
    patch = CommandEnvelope.model_validate({"command_id": "p", "type": "state.patch", "stream_id": P.stream_id,
                                            "payload": {"ops": [{"op": "add", "path": "/a", "value": 1}]}})
    snap = CommandEnvelope.model_validate({"command_id": "s", "type": "snapshot.create", "stream_id": P.stream_id})
    await parts.submit(P, "alice", [patch])
    [result] = await parts.submit(P, "alice", [snap])
    assert seen == [(False, 1)]  # a worker thread, before the snapshot_created event (seq 2) existed
    event = json.loads((await store.read(P, 1, 1))[0].body)
    assert result.seq == 2 and event["type"] == "snapshot_created"
    record = local.lookup(P.tenant_id, event["data"]["ref"]["artifact_id"])
    assert record is not None and record.status == "ready"


async def test_concurrent_commands_of_a_partition_share_one_commit(tmp_path: Path) -> None:
    """Group commit: requests that arrive together are decided and appended in one store call."""
    parts, store = make(tmp_path)
    parts.snapshot_every = 0  # no automatic snapshot commit after these
    appends = 0
    real_append = store.append

    async def counting_append(*args: Any) -> None:
        nonlocal appends
        appends += 1
        await real_append(*args)

    store.append = counting_append  # type: ignore[method-assign]

    def command(i: int) -> CommandEnvelope:
        return CommandEnvelope.model_validate({"command_id": f"c{i}", "type": "log.append", "stream_id": P.stream_id,
                                               "payload": {"level": "info", "message": str(i)}})

    results = await asyncio.gather(*(parts.submit(P, "alice", [command(i)]) for i in range(50)))
    assert sorted(r[0].seq for r in results) == list(range(1, 51))
    assert appends == 1


async def test_a_command_another_node_committed_meanwhile_gets_its_first_result(tmp_path: Path) -> None:
    """Node A looks results up (a refusal in its group), then node B commits one of A's commands
    before A appends: A's append meets a moved head, and the retry must see B's result."""
    shared = MemoryStore()
    node_b = Partitions(shared, Hub(), LocalArtifactStore(tmp_path / "b"), Recorder(), 0, 100, 10)

    def patch(cid: str, base_version: int) -> CommandEnvelope:
        return CommandEnvelope.model_validate({"command_id": cid, "type": "state.patch", "stream_id": P.stream_id,
                                               "base_version": base_version,
                                               "payload": {"ops": [{"op": "add", "path": f"/{cid}", "value": 1}]}})

    class RacingStore(MemoryStore):
        async def lookup(self, partition: Partition, command_ids: list[str]) -> dict[str, str]:
            found = await shared.lookup(partition, command_ids)
            if not await shared.lookup(partition, ["x"]):
                await node_b.submit(P, "bob", [patch("x", 0)])  # lands between A's lookup and append
            return found

    node_a_store = RacingStore()
    for name in ("append", "read", "bounds", "save_snapshot", "latest_snapshot", "prune"):
        setattr(node_a_store, name, getattr(shared, name))
    node_a = Partitions(node_a_store, Hub(), LocalArtifactStore(tmp_path / "a"), Recorder(), 0, 100, 10)
    await node_a.get(P)
    stale, retried = await asyncio.gather(node_a.submit(P, "alice", [patch("y", 7)]),
                                          node_a.submit(P, "alice", [patch("x", 0)]), return_exceptions=True)
    assert isinstance(stale, AtomsError) and stale.code == "version_conflict"
    assert not isinstance(retried, BaseException)
    assert retried[0].duplicate and retried[0].seq == 1
    assert (await shared.bounds(P)) == (1, 1)


async def test_overflow_closes_only_that_subscriber() -> None:
    hub = Hub()
    small, big = hub.subscribe(P, 10), hub.subscribe(P, 1000)
    hub.publish(P, b"x" * 11)
    assert small.closed and small.overflowed and small.take() == b""
    assert not big.closed and big.take() == b"x" * 11


@pytest.mark.parametrize("engine", ["sqlite"])
async def test_sqlite_engine_reloads_the_same_state(tmp_path: Path, engine: str) -> None:
    from atoms_core.stores.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "t.db")
    await store.open()
    parts = Partitions(store, Hub(), LocalArtifactStore(tmp_path / "a"), Recorder(), 3, 2, 10)
    for i in range(10):
        envelope = CommandEnvelope.model_validate({"command_id": f"c{i}", "stream_id": P.stream_id,
                                                   "type": "state.patch", "payload": {"ops": [
                                                       {"op": "add", "path": f"/k{i}", "value": i}]}})
        await parts.submit(P, "alice", [envelope])
    live = (await parts.get(P)).state
    await store.close()
    reopened = SqliteStore(tmp_path / "t.db")
    await reopened.open()
    again = Partitions(reopened, Hub(), LocalArtifactStore(tmp_path / "a"), Recorder(), 3, 2, 10)
    assert (await again.get(P)).state == live
    first, head = await reopened.bounds(P)
    assert head == live.seq and first > 1  # pruned behind a snapshot
    await reopened.close()


async def test_an_artifact_store_outage_refuses_the_snapshot_as_retryable_and_commits_nothing() -> None:
    store = MemoryStore()

    class DownSink:
        def put_snapshot(self, partition: Partition, record: ArtifactRecord, blob: bytes) -> None:
            raise OSError("No space left on device")

    parts = Partitions(store, Hub(), DownSink(), Recorder(), snapshot_every=0, retention=100, cache_size=10)
    snap = CommandEnvelope.model_validate({"command_id": "s", "type": "snapshot.create", "stream_id": P.stream_id})
    with pytest.raises(AtomsError) as refused:
        await parts.submit(P, "alice", [snap])
    assert (refused.value.status, refused.value.code) == (503, "store_unavailable")
    assert await store.read(P, 0, 10) == []
    patch = CommandEnvelope.model_validate({"command_id": "p", "type": "state.patch", "stream_id": P.stream_id,
                                            "payload": {"ops": [{"op": "add", "path": "/a", "value": 1}]}})
    [result] = await parts.submit(P, "alice", [patch])
    assert result.seq == 1


@given(st.text(min_size=1, max_size=40), st.integers(0, 2**53), st.integers(0, 2**53), st.booleans())
def test_a_result_the_decider_makes_stores_as_the_model_encodes(
        command_id: str, seq: int, version: int, duplicate: bool) -> None:
    result, stored = new_result(command_id, seq, version, duplicate)
    validated = CommandResult(command_id=command_id, seq=seq, version=version, event_ids=[str(seq)],
                              duplicate=duplicate)
    assert result == validated and result.model_dump() == validated.model_dump()
    assert stored == dumps(validated.model_dump())
    assert decode_result(stored) == validated.model_copy(update={"duplicate": True})


@pytest.mark.parametrize("cut", ["before_append", "after_append"])
async def test_a_leader_cancelled_mid_commit_leaves_its_group_committed_once(tmp_path: Path, cut: str) -> None:
    """The request that leads a group commits it in its own task; cancelled there (shutdown), the commands
    queued behind it still get their replies, and none is lost or appended twice, whether the store had
    appended the leader's group yet or not."""
    parts, store = make(tmp_path)
    parts.snapshot_every = 0
    real_append = store.append
    release = asyncio.Event()
    appends = 0

    async def slow_append(*args: Any) -> None:
        nonlocal appends
        appends += 1
        if appends == 1 and cut == "after_append":
            await real_append(*args)
        if appends == 1:
            await release.wait()  # the leader is suspended here when it is cancelled
        if appends > 1 or cut == "before_append":
            await real_append(*args)

    store.append = slow_append  # type: ignore[method-assign]

    def command(cid: str) -> CommandEnvelope:
        return CommandEnvelope.model_validate({"command_id": cid, "type": "log.append", "stream_id": P.stream_id,
                                               "payload": {"level": "info", "message": cid}})

    leader = asyncio.create_task(parts.submit(P, "alice", [command("lead")]))
    while appends == 0:
        await asyncio.sleep(0)
    followers = [asyncio.create_task(parts.submit(P, "alice", [command(f"f{i}")])) for i in range(3)]
    await asyncio.sleep(0)
    leader.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await leader
    replies = await asyncio.wait_for(asyncio.gather(*followers), 5)
    await parts.drain()
    stored = await store.read(P, 0, 100)
    seq_of = {json.loads(e.body)["command_id"]: e.seq for e in stored}
    assert sorted(seq_of) == ["f0", "f1", "f2", "lead"] and len(stored) == 4  # each once, the leader's too
    assert sorted(seq_of.values()) == [1, 2, 3, 4]
    assert [r[0].seq for r in replies] == [seq_of[f"f{i}"] for i in range(3)]
    assert (await parts.get(P)).state.seq == 4
