"""Several nodes on one Redis: two real ``atoms serve`` processes sharing one real ``redis-server``.

They share a data dir, hence signing keys, so either node serves any client. Checked from the
outside only: order and exactly-once delivery across nodes, failover with ``Last-Event-ID``, a Redis
outage (503 + Retry-After, then recovery, nothing acknowledged lost) and lost Redis history (``resync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from redis_server import Nodes, two_nodes
from servers import AtomsServer
from sse_reader import Frame, frames
from streams_api import StreamClient, patch

CONTROL = {"hello", "state_snapshot", "resync"}


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    with two_nodes(tmp_path) as started:
        yield started


class Reader:
    """One SSE connection read in the background; ``frames`` grows as frames arrive."""

    def __init__(self, http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self.frames: list[Frame] = []
        self._opened = asyncio.Event()
        self.task = asyncio.create_task(self._run(http, url, headers))

    async def _run(self, http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        async with http.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            async for frame in frames(response):
                self.frames.append(frame)
                self._opened.set()

    @classmethod
    async def open(cls, http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Reader:
        reader = cls(http, url, headers)
        opened = asyncio.ensure_future(reader._opened.wait())
        await asyncio.wait([opened, reader.task], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if reader.task.done():
            reader.task.result()
        assert reader._opened.is_set(), "no hello within 10 s"
        return reader

    async def until(self, done: Callable[[list[Frame]], bool], timeout: float = 10.0) -> list[Frame]:
        deadline = time.monotonic() + timeout
        while not done(self.frames):
            if self.task.done():
                self.task.result()
                raise AssertionError(f"stream ended early: {[(f.event, f.id) for f in self.frames]}")
            assert time.monotonic() < deadline, f"timed out: {[(f.event, f.id) for f in self.frames]}"
            await asyncio.sleep(0.02)
        return self.frames

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self.task


def seqs(got: list[Frame]) -> list[int]:
    return [int(f.id) for f in got if f.id is not None and f.event not in CONTROL]


def reaches(seq: int) -> Callable[[list[Frame]], bool]:
    return lambda got: seq in seqs(got)


async def post(http: httpx.AsyncClient, node: AtomsServer, stream: str, body: Any,
               headers: dict[str, str]) -> httpx.Response:
    return await http.post(f"{node.url}/v1/streams/{stream}/commands", json=body, headers=headers)


def wait_status(url: str, status: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            last = httpx.get(url, timeout=2)
            if last.status_code == status:
                return
        time.sleep(0.05)
    raise AssertionError(f"{url} answered {last and (last.status_code, last.text)}, wanted {status}")


async def test_commands_on_either_node_reach_readers_on_both_in_one_order(nodes: Nodes) -> None:
    _, node_a, node_b = nodes
    stream = "canvas:shared"
    token = node_a.token()
    bearer = {"Authorization": f"Bearer {token}"}
    ticket = node_a.ticket(stream, ["read"], token)  # issued by A, honoured by B
    async with httpx.AsyncClient(timeout=15) as http:
        on_b = await Reader.open(http, f"{node_b.url}/v1/streams/{stream}/events?ticket={ticket}", {})
        on_a = await Reader.open(http, f"{node_a.url}/v1/streams/{stream}/events", bearer)
        only_a = [await post(http, node_a, stream, patch(stream, f"/k{i}", i, f"c{i}"), bearer) for i in range(5)]
        assert [r.json()["seq"] for r in only_a] == [1, 2, 3, 4, 5]
        await on_b.until(reaches(5))
        assert seqs(on_b.frames) == [1, 2, 3, 4, 5]

        # Both nodes write the same partition at once: one gap-free order, seen identically everywhere.
        replies = await asyncio.gather(*(post(http, node_a if i % 2 else node_b, stream,
                                              patch(stream, f"/k{i}", i, f"c{i}"), bearer) for i in range(5, 60)))
        assert sorted(r.json()["seq"] for r in replies) == list(range(6, 61))
        await on_b.until(reaches(60))
        await on_a.until(reaches(60))
        assert seqs(on_b.frames) == seqs(on_a.frames) == list(range(1, 61))
        assert [f.data for f in on_b.frames if f.event == "state_patch"] == \
               [f.data for f in on_a.frames if f.event == "state_patch"]

        late = await Reader.open(http, f"{node_b.url}/v1/streams/{stream}/events",
                                 {**bearer, "Last-Event-ID": "42"})
        await late.until(reaches(60))
        assert seqs(late.frames) == list(range(43, 61))
        for reader in (on_a, on_b, late):
            await reader.close()
    state_a = StreamClient(node_a.url, token, stream).state()
    assert state_a == StreamClient(node_b.url, token, stream).state()
    assert state_a["state"] == {f"k{i}": i for i in range(60)}
    assert not (node_a.data_dir / "timeline.db").exists(), "with engine=redis the timeline lives in redis only"


async def test_clients_of_a_killed_node_resume_on_the_other_and_lose_nothing(nodes: Nodes) -> None:
    _, node_a, node_b = nodes
    stream = "canvas:failover"
    bearer = {"Authorization": f"Bearer {node_a.token()}"}
    acked: list[int] = []
    async with httpx.AsyncClient(timeout=15) as http:
        reader = await Reader.open(http, f"{node_a.url}/v1/streams/{stream}/events", bearer)

        async def write(i: int, node: AtomsServer) -> None:
            reply = await post(http, node, stream, patch(stream, f"/k{i}", i, f"c{i}"), bearer)
            if reply.status_code == 202:
                acked.append(i)

        await asyncio.gather(*(write(i, node_a) for i in range(20)))
        writer_b = asyncio.gather(*(write(i, node_b) for i in range(20, 50)))
        await reader.until(reaches(30))
        node_a.kill()  # SIGKILL while node B keeps accepting writes
        with contextlib.suppress(httpx.HTTPError, AssertionError):
            await reader.task
        before = seqs(reader.frames)
        await writer_b
        await asyncio.gather(*(write(i, node_b) for i in range(50, 80)))
        resumed = await Reader.open(http, f"{node_b.url}/v1/streams/{stream}/events",
                                    {**bearer, "Last-Event-ID": str(before[-1])})
        await resumed.until(reaches(80))
        await resumed.close()
    assert sorted(acked) == list(range(80))
    assert before + seqs(resumed.frames) == list(range(1, 81))
    assert StreamClient(node_b.url, bearer["Authorization"][7:], stream).state()["state"] == \
           {f"k{i}": i for i in range(80)}


async def test_redis_outage_answers_503_then_recovers_without_losing_acknowledged_events(nodes: Nodes) -> None:
    server, node_a, node_b = nodes
    stream = "canvas:outage"
    bearer = {"Authorization": f"Bearer {node_a.token()}"}
    async with httpx.AsyncClient(timeout=15) as http:
        for i in range(10):
            assert (await post(http, node_a, stream, patch(stream, f"/k{i}", i, f"c{i}"), bearer)).status_code == 202
        live_on_b = await Reader.open(http, f"{node_b.url}/v1/streams/{stream}/events", bearer)

        server.kill()  # appendfsync always: every 202 above is on disk
        wait_status(f"{node_a.url}/readyz", 503)
        wait_status(f"{node_b.url}/readyz", 503)
        assert httpx.get(f"{node_a.url}/readyz").json()["checks"]["store"] is False
        refused = await post(http, node_a, stream, patch(stream, "/k10", 10, "c10"), bearer)
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "store_unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        async with http.stream("GET", f"{node_a.url}/v1/streams/{stream}/events", headers=bearer) as sse:
            assert sse.status_code == 503  # readiness already counts the node's pub/sub link
            assert json.loads(await sse.aread())["code"] == "store_unavailable"
            assert "retry-after" in sse.headers

        server.start()  # same port, same AOF
        wait_status(f"{node_a.url}/readyz", 200)
        wait_status(f"{node_b.url}/readyz", 200)
        retried = await post(http, node_a, stream, patch(stream, "/k10", 10, "c10"), bearer)
        assert retried.status_code == 202 and retried.json()["seq"] == 11
        await live_on_b.until(reaches(11))
        assert seqs(live_on_b.frames) == [11]
        assert "resync" not in [f.event for f in live_on_b.frames]
        resumed = await Reader.open(http, f"{node_b.url}/v1/streams/{stream}/events",
                                    {**bearer, "Last-Event-ID": "4"})
        await resumed.until(reaches(11))
        assert seqs(resumed.frames) == list(range(5, 12))
        for reader in (live_on_b, resumed):
            await reader.close()


def resyncs(got: list[Frame]) -> list[tuple[str, int]]:
    """(reason, seq of the snapshot that follows) for every resync."""
    out = []
    for i, frame in enumerate(got):
        if frame.event == "resync":
            follow = got[i + 1]
            assert follow.event == "state_snapshot", "a resync is always followed by a state_snapshot"
            out.append((frame.json["reason"], follow.json["seq"]))
    return out


async def test_history_lost_in_a_redis_restart_makes_clients_resync(nodes: Nodes) -> None:
    server, node_a, node_b = nodes
    stream = "canvas:amnesia"
    bearer = {"Authorization": f"Bearer {node_a.token()}"}
    async with httpx.AsyncClient(timeout=15) as http:
        for i in range(5):
            assert (await post(http, node_a, stream, patch(stream, f"/old{i}", i), bearer)).status_code == 202
        live_on_b = await Reader.open(http, f"{node_b.url}/v1/streams/{stream}/events", bearer)

        server.kill()
        server.wipe()  # Redis comes back empty, as after a restart without persistence
        server.start()
        await live_on_b.until(lambda got: "resync" in [f.event for f in got])
        assert resyncs(live_on_b.frames) == [("history_lost", 0)]
        assert live_on_b.frames[-1].json["state"] == {}

        reply = await post(http, node_a, stream, patch(stream, "/new", 1), bearer)
        assert reply.status_code == 202 and reply.json()["seq"] == 1
        await live_on_b.until(reaches(1))
        resumed = await Reader.open(http, f"{node_a.url}/v1/streams/{stream}/events",
                                    {**bearer, "Last-Event-ID": "5"})
        await resumed.until(lambda got: "state_snapshot" in [f.event for f in got])
        for reader in (live_on_b, resumed):
            await reader.close()
    assert resyncs(live_on_b.frames) == [("history_lost", 0)]  # the new event arrives as a plain event
    assert resyncs(resumed.frames) == [("ahead_of_head", 1)]
    assert StreamClient(node_b.url, bearer["Authorization"][7:], stream).state()["state"] == {"new": 1}


def materialise(got: list[Frame]) -> tuple[int, dict[str, Any]]:
    """What a client holds after these frames: snapshots replace, ``add`` patches apply in order."""
    seq, state = 0, {}
    for frame in got:
        if frame.event == "state_snapshot":
            seq, state = frame.json["seq"], dict(frame.json["state"])
        elif frame.event == "state_patch":
            assert frame.json["seq"] == seq + 1, f"gap or duplicate at {frame.json['seq']} after {seq}"
            op = frame.json["data"]["ops"][0]
            seq, state = frame.json["seq"], {**state, op["path"][1:]: op["value"]}
    return seq, state


async def test_flushall_is_detected_by_every_node(nodes: Nodes) -> None:
    server, node_a, node_b = nodes
    stream = "canvas:flushed"
    bearer = {"Authorization": f"Bearer {node_a.token()}"}
    async with httpx.AsyncClient(timeout=15) as http:
        for i in range(3):
            assert (await post(http, node_b, stream, patch(stream, f"/old{i}", i), bearer)).status_code == 202
        readers = [await Reader.open(http, f"{node.url}/v1/streams/{stream}/events", bearer)
                   for node in (node_a, node_b)]
        for reader in readers:
            await reader.until(lambda got: materialise(got)[0] == 3)

        redis.Redis.from_url(server.url).flushall()  # no restart, no dropped link: only the epoch tells
        for i in range(2):
            reply = await post(http, node_a, stream, patch(stream, f"/new{i}", i), bearer)
            assert reply.status_code == 202 and reply.json()["seq"] == i + 1
        for reader in readers:
            await reader.until(lambda got: "resync" in [f.event for f in got] and materialise(got)[0] == 2)
            await reader.close()
            assert materialise(reader.frames) == (2, {"new0": 0, "new1": 1})
