"""One stream's state is bounded in bytes however the input is split across commands (issue 13): copy
doubling, token growth and chat growth are refused at ``state_max_bytes`` with nothing committed, what
goes out (``state_snapshot``, snapshots) stays under it, and the state cache is bounded in bytes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from servers import AtomsServer, running_server
from sse_reader import collect
from streams_api import StreamClient, command, metric, patch
from streams_api import problem as refused

CAP = 1 << 20
ENV = {"ATOMS_STATE_MAX_BYTES": str(CAP), "ATOMS_STATE_CACHE_BYTES": str(2 * CAP)}


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    with running_server(tmp_path_factory.mktemp("capped") / "data", env=ENV) as srv:
        yield srv


@pytest.fixture
def client(capped: AtomsServer) -> StreamClient:
    return StreamClient(capped.url, capped.token(), f"canvas:l{uuid.uuid4().hex[:12]}")


def test_copy_doubling_stops_at_the_cap_and_the_stream_stays_usable(client: StreamClient) -> None:
    s = client.stream
    assert client.post(patch(s, "/s", "x" * 65536)).status_code == 202
    copies = [client.post(command(s, "state.patch", {"ops": [{"op": "copy", "from": "", "path": f"/k{i}"}]}))
              for i in range(12)]
    accepted = [r for r in copies if r.status_code == 202]
    assert len(accepted) == 3  # 64 KiB doubled three times; the fourth copy would pass 1 MiB
    before = client.state()
    for response in copies[3:]:
        problem = refused(response, 422, "state_too_large")
        assert problem["pointer"] == "/payload/ops/0" and str(CAP) in str(problem["detail"])
    assert before["seq"] == 4 and len(json.dumps(before["state"], separators=(",", ":"))) <= CAP
    # What goes out is bounded by the cap: a new SSE connection's state_snapshot and a snapshot.
    frames = asyncio.run(_opening(client))
    snapshot = next(f for f in frames if f.event == "state_snapshot")
    assert len(snapshot.data) <= CAP + 200 and snapshot.json["seq"] == 4
    snap = client.post(command(s, "snapshot.create", {}))
    assert snap.status_code == 202
    assert client.history(after=4)["events"][0]["data"]["size"] <= CAP
    # Still usable: small changes pass, and removing makes room again.
    assert client.post(patch(s, "/small", 1)).status_code == 202
    assert client.post(command(s, "state.patch", {"ops": [{"op": "remove", "path": "/k2"}]})).status_code == 202
    assert client.post(command(s, "state.patch", {"ops": [{"op": "copy", "from": "/k1", "path": "/k9"}]})
                       ).status_code == 202


async def _opening(client: StreamClient) -> list[object]:
    async with httpx.AsyncClient(headers=client.headers, timeout=30) as http:
        return await collect(http, client.events_url, lambda got: any(f.event == "state_snapshot" for f in got))


def test_token_growth_stops_at_the_cap(client: StreamClient) -> None:
    s = client.stream
    assert client.post(command(s, "chat.post", {"role": "assistant", "text": ""})).status_code == 202
    delta = ("lorem ipsum dolor sit amet " * 2500)[:65536]
    accepted = 0
    for _ in range(20):  # a refused chunk is not counted: the writer retries the same index
        response = client.post(command(s, "token.append", {"target": "/chat/0/text", "delta": delta,
                                                           "index": accepted}))
        if response.status_code == 202:
            accepted += 1
        else:
            problem = refused(response, 422, "state_too_large")
            assert problem["pointer"] == "/payload/delta"
    assert accepted == 15  # 15 deltas of 64 KiB fit in 1 MiB with the message around them
    state = client.state()
    assert state["seq"] == 1 + accepted and len(state["state"]["chat"][0]["text"]) == 15 * 65536
    ok = client.post(command(s, "token.append", {"target": "/chat/0/text", "delta": "!", "index": accepted}))
    assert ok.status_code == 202  # a smaller chunk still fits


def test_chat_growth_stops_at_the_cap_naming_the_text(client: StreamClient) -> None:
    s = client.stream
    text = "word " * 13000
    replies = [client.post(command(s, "chat.post", {"role": "user", "text": text})) for _ in range(17)]
    assert replies[0].status_code == 202
    problem = refused(replies[-1], 422, "state_too_large")
    assert problem["pointer"] == "/payload/text"


def test_a_patch_with_too_many_ops_is_refused(client: StreamClient) -> None:
    ops = [{"op": "add", "path": f"/k{i}", "value": i} for i in range(1001)]
    problem = refused(client.post(command(client.stream, "state.patch", {"ops": ops})), 413, "patch_too_large")
    assert problem["pointer"] == "/payload/ops"
    assert client.state()["seq"] == 0
    assert client.post(command(client.stream, "state.patch", {"ops": ops[:1000]})).status_code == 202


async def _while_probing(base_url: str, work: Any) -> tuple[Any, float, float]:
    """Run ``work`` (a coroutine function) while another client polls ``/healthz``: its result, how long
    it took and the slowest ``/healthz`` answer meanwhile (what every other tenant waited)."""
    slowest = 0.0
    done = asyncio.Event()

    async def probe() -> None:
        nonlocal slowest
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            while not done.is_set():
                started = time.perf_counter()
                assert (await http.get("/healthz")).status_code == 200
                slowest = max(slowest, time.perf_counter() - started)
                await asyncio.sleep(0.01)

    prober = asyncio.create_task(probe())
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    result = await work()
    took = time.perf_counter() - started
    await asyncio.sleep(0.05)
    done.set()
    await prober
    return result, took, slowest


def _timed_command(client: StreamClient, body: Any) -> tuple[httpx.Response, float, float]:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(headers=client.headers, timeout=60) as http:
            return await http.post(f"{client.base_url}/v1/streams/{client.stream}/commands", json=body)
    return asyncio.run(_while_probing(client.base_url, send))


def test_copying_a_large_value_deeper_a_thousand_times_stalls_nobody(client: StreamClient) -> None:
    """Audit of issue 13: each copy to a deeper path walked the whole value, uncharged (1000 copies of
    2.4 MiB of shapes held the server 15 s). Now the same value is walked once per command."""
    s = client.stream
    shapes = {f"s{i}": {"id": f"s{i}", "type": "rect", "x": i, "y": i, "w": 1, "h": 1, "fill": "#333"}
              for i in range(6000)}
    assert client.post(command(s, "state.patch", {"ops": [{"op": "add", "path": "/a", "value": shapes},
                                                         {"op": "add", "path": "/x", "value": {"y": {}}}]})
                       ).status_code == 202
    ops = [{"op": "copy", "from": "/a", "path": "/x/y/c"}] * 1000
    response, took, slowest = _timed_command(client, command(s, "state.patch", {"ops": ops}))
    assert response.status_code == 202, response.text
    assert took < 1 and slowest < 0.5, (took, slowest)  # seconds before; margins for a loaded CI
    assert client.state()["state"]["x"]["y"]["c"] == shapes


def test_moving_a_long_string_a_thousand_times_is_refused_at_once(client: StreamClient) -> None:
    """Audit of issue 13: strings were free of the work budget; 1000 moves of a long string between two
    keys were accepted after seconds. Now the third move is past the budget: 413, nothing committed."""
    s = client.stream
    assert client.post(patch(s, "/a", "lorem ipsum " * 75_000)).status_code == 202  # 900 KB
    ops = [{"op": "move", "from": "/a", "path": "/b"}, {"op": "move", "from": "/b", "path": "/a"}] * 500
    response, took, slowest = _timed_command(client, command(s, "state.patch", {"ops": ops}))
    assert refused(response, 413, "patch_too_large")["pointer"] == "/payload/ops/2"
    assert took < 1 and slowest < 0.5, (took, slowest)  # seconds before; margins for a loaded CI
    assert client.state()["seq"] == 1


def test_the_state_cache_is_bounded_in_bytes(capped: AtomsServer) -> None:
    token = capped.token()
    streams = [StreamClient(capped.url, token, f"canvas:cache{uuid.uuid4().hex[:8]}") for _ in range(6)]
    for c in streams:
        assert c.post(patch(c.stream, "/text", "z" * 600_000)).status_code == 202
    assert metric(capped.url, "atoms_state_cache_bytes") <= 2 * CAP
    for c in streams:  # evicted ones load again from the store
        assert len(c.state()["state"]["text"]) == 600_000
    assert metric(capped.url, "atoms_state_cache_bytes") <= 2 * CAP


def test_a_state_over_a_lowered_cap_still_loads_and_may_only_shrink(tmp_path: Path) -> None:
    """Replay never refuses a committed event; afterwards only commands that do not grow it pass."""
    server = AtomsServer(tmp_path / "data").start()
    try:
        c = StreamClient(server.url, server.token(), "canvas:lowered")
        assert c.post(patch(c.stream, "/a", "x" * 300_000)).status_code == 202
        assert c.post(patch(c.stream, "/b", "y" * 300_000)).status_code == 202
        server.stop()
        server.env["ATOMS_STATE_MAX_BYTES"] = str(100_000)
        server.start()
        assert c.state()["seq"] == 2
        refused(c.post(patch(c.stream, "/c", 1)), 422, "state_too_large")
        assert c.post(command(c.stream, "state.patch", {"ops": [{"op": "remove", "path": "/a"}]})).status_code == 202
        # The first command after the load (even a refused one) also snapshots what was replayed: 600 KB,
        # more than the cap; nothing else is committed.
        assert [e["type"] for e in c.history(after=2)["events"]] == ["snapshot_created", "state_patch"]
        assert set(c.state()["state"]) == {"b"}
    finally:
        server.stop()


def _rewrite(c: StreamClient, count: int) -> None:
    """``count`` commands each replacing ``/a`` with a new 900 KB string: a small state, a long timeline."""
    for i in range(count):
        assert c.post(patch(c.stream, "/a", (f"{i} lorem ipsum " * 70_000)[:900_000])).status_code == 202


def _first_state_after_restart(server: AtomsServer, c: StreamClient) -> tuple[httpx.Response, float, float]:
    server.stop()
    server.start()

    async def read() -> httpx.Response:
        async with httpx.AsyncClient(headers=c.headers, timeout=60) as http:
            return await http.get(f"{c.base_url}/v1/streams/{c.stream}/state")
    return asyncio.run(_while_probing(server.url, read))


def test_a_rebuild_yields_to_other_streams(tmp_path: Path) -> None:
    """Audit of issue 13: a rebuild applied its events on the loop without a pause (400 events of 1 MB:
    the first GET /state after a restart held /healthz 4 s). Now it yields every few milliseconds; with
    automatic snapshots off it replays every event, here 1500 that each copy 450 KB of shapes."""
    server = AtomsServer(tmp_path / "data", env={**ENV, "ATOMS_SNAPSHOT_EVERY": "0"}).start()
    try:
        c = StreamClient(server.url, server.token(), "canvas:replayed")
        shapes = {f"s{i}": {"id": f"s{i}", "type": "rect", "x": i, "y": i, "w": 1, "h": 1, "fill": "#333"}
                  for i in range(6000)}
        assert c.post(patch(c.stream, "/a", shapes)).status_code == 202
        copy = {"ops": [{"op": "copy", "from": "/a", "path": "/b"}]}
        for _ in range(15):
            assert c.post([command(c.stream, "state.patch", copy) for _ in range(100)]).status_code == 202
        response, took, slowest = _first_state_after_restart(server, c)
        assert response.status_code == 200 and response.json()["seq"] == 1501
        assert slowest < 0.25, (took, slowest)  # the whole rebuild before
    finally:
        server.stop()


def test_a_rebuild_replays_about_state_max_bytes_at_most(tmp_path: Path) -> None:
    """Snapshots are taken every ``snapshot_every`` events and also once the events since the last one
    weigh ``state_max_bytes``, so a restart replays at most about that, however large each event is."""
    server = AtomsServer(tmp_path / "data", env=ENV).start()
    try:
        c = StreamClient(server.url, server.token(), "canvas:snapshotted")
        _rewrite(c, 12)
        kinds = [event["type"] for event in c.history(after=0)["events"]]
        assert kinds.count("snapshot_created") >= 5  # one every two 900 KB events (CAP is 1 MiB)
        response, took, slowest = _first_state_after_restart(server, c)
        assert response.json()["state"]["a"].startswith("11 lorem")
        assert took < 0.5 and slowest < 0.25, (took, slowest)
    finally:
        server.stop()
