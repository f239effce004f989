"""SSE over real HTTP: handshake, resume from every position, races, resync, isolation, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from atoms_core.engine.hub import SLICE
from atoms_core.identity.tickets import mint_identity_token
from atoms_core.protocol.timeline import Partition, StoredEvent, page_bytes
from atoms_core.stores.audit import tenant_file
from servers import AtomsServer, running_server, serving_in_process
from sse_reader import Frame, collect, frames
from streams_api import ODD_NUMBERS, StreamClient, metric, patch


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """Two SSE connections per principal, three per tenant."""
    env = {"ATOMS_SSE_MAX_PER_PRINCIPAL": "2", "ATOMS_SSE_MAX_PER_TENANT": "3"}
    with running_server(tmp_path_factory.mktemp("sse-capped") / "data", env=env) as srv:
        yield srv


def event_seqs(got: list[Frame]) -> list[int]:
    return [int(f.id) for f in got if f.id is not None and f.event not in ("state_snapshot",)]


def reached(seq: int):  # type: ignore[no-untyped-def]
    return lambda got: any(f.id == str(seq) and f.event != "state_snapshot" for f in got)


def replayed(got: list[Frame]) -> bool:
    """The replay reached the head its ``hello`` named."""
    return got[0].event == "hello" and got[-1].id == str(got[0].json["head_seq"])


@pytest.fixture
def client(shared_server: AtomsServer) -> StreamClient:
    return StreamClient(shared_server.url, shared_server.token(), f"canvas:s{uuid.uuid4().hex[:12]}")


async def test_handshake_headers_hello_and_snapshot(client: StreamClient) -> None:
    client.post(patch(client.stream, "/a", 1))
    async with httpx.AsyncClient(headers=client.headers) as http, http.stream("GET", client.events_url) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        raw = b""
        async for chunk in response.aiter_bytes():
            raw += chunk
            if b"state_snapshot" in raw:
                break
    text = raw.decode()
    assert text.startswith("retry: 2000\n\n")
    assert "event: hello\ndata: " in text and '"head_seq":1' in text
    assert 'id: 1\nevent: state_snapshot\ndata: {"stream_id":"' + client.stream in text
    assert '"state":{"a":1}' in text


async def test_live_events_follow_the_snapshot_in_order(client: StreamClient) -> None:
    async with httpx.AsyncClient(headers=client.headers) as http:
        reader = asyncio.create_task(collect(http, client.events_url, reached(20)))
        await asyncio.sleep(0.3)
        for i in range(20):
            body = patch(client.stream, f"/k{i}", i)
            await http.post(f"{client.base_url}/v1/streams/{client.stream}/commands", json=body)
        got = await reader
    assert [f.event for f in got[:2]] == ["hello", "state_snapshot"]
    assert event_seqs(got) == list(range(1, 21))
    assert [f.json["data"]["ops"][0]["value"] for f in got[2:]] == list(range(20))


async def test_resume_from_every_position_gives_exactly_the_missing_events(client: StreamClient) -> None:
    client.post([patch(client.stream, f"/k{i}", i) for i in range(50)])
    async with httpx.AsyncClient(headers=client.headers) as http:
        for last in range(50):
            got = await collect(http, client.events_url, reached(50), headers={"Last-Event-ID": str(last)})
            assert got[0].event == "hello"
            assert event_seqs(got) == list(range(last + 1, 51)), last
            assert all(f.event == "state_patch" for f in got[1:])
        # at head: nothing replayed, next live event is head + 1
        reader = asyncio.create_task(collect(http, client.events_url, reached(51), headers={"Last-Event-ID": "50"}))
        await asyncio.sleep(0.3)
        client.post(patch(client.stream, "/last", True))
        got = await reader
        assert [f.event for f in got] == ["hello", "state_patch"] and event_seqs(got) == [51]
        # the query form works too
        got = await collect(http, client.events_url + "?last_event_id=49", reached(51))
        assert event_seqs(got) == [50, 51]


async def test_concurrent_writer_during_replay_no_gap_no_duplicate(client: StreamClient) -> None:
    client.post([patch(client.stream, f"/k{i}", i) for i in range(100)])
    total = 400
    async with httpx.AsyncClient(headers=client.headers) as http:
        async def writer() -> None:
            for i in range(100, total, 20):
                body = [patch(client.stream, f"/k{j}", j) for j in range(i, i + 20)]
                r = await http.post(f"{client.base_url}/v1/streams/{client.stream}/commands", json=body)
                assert r.status_code == 202

        readers = [asyncio.create_task(collect(http, client.events_url, reached(total),
                                               headers={"Last-Event-ID": str(start)}, timeout=30))
                   for start in (0, 10, 50, 99)]
        await writer()
        results = await asyncio.gather(*readers)
    for start, got in zip((0, 10, 50, 99), results, strict=True):
        assert event_seqs(got) == list(range(start + 1, total + 1))


SMALL_RUN, LARGE_RUN = 300, 20
PROSE = "lorem ipsum dolor sit amet "  # prose: the sidecar guard takes a long value of it


async def test_a_resume_over_small_events_then_large_ones_reads_the_store_a_slice_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resume from before 300 small events followed by 20 of 600 KB (one value replaced each time: the
    state stays small) gets every event once, in order, with its body; and no store read made for it
    returns more than a slice of bodies before its last event, so a page holds at most a slice plus one
    event. Pages sized from the last page's average body (da581f9 replaced that) read all 20 large ones,
    12 MB, in one read: the small run had grown the page past them all. In process, to watch the store."""
    stream = "canvas:replay-pages"
    values = [f"{i:03d} " + "small " * 16 for i in range(SMALL_RUN)]
    values += [f"{i:02d} " + PROSE * 22_000 for i in range(LARGE_RUN)]
    reads: list[list[StoredEvent]] = []
    async with serving_in_process(tmp_path / "data") as (url, ctx):
        token = mint_identity_token(ctx.settings, ctx.keys, "acme", "alice", [], 600)
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            commands = f"{url}/v1/streams/{stream}/commands"
            for first in range(0, SMALL_RUN, 100):
                batch = [patch(stream, f"/s{i}", values[i]) for i in range(first, first + 100)]
                assert (await http.post(commands, json=batch)).status_code == 202
            for i in range(SMALL_RUN, len(values)):
                response = await http.post(commands, json=patch(stream, "/big", values[i]))
                assert response.status_code == 202, response.text
            store_read = ctx.store.read

            async def recorded_read(partition: Partition, after: int, limit: int,
                                    max_bytes: int | None = None) -> list[StoredEvent]:
                events: list[StoredEvent] = await store_read(partition, after, limit, max_bytes)
                reads.append(events)
                return events

            monkeypatch.setattr(ctx.store, "read", recorded_read)  # the real store's reads, recorded
            got = await collect(http, f"{url}/v1/streams/{stream}/events", replayed,
                                headers={"Last-Event-ID": "0"}, timeout=30)
    before_last = max(page_bytes(events[:-1]) for events in reads)
    assert before_last < SLICE, f"a replay read returned {before_last:,} bytes of bodies before its last event"
    head = got[0].json["head_seq"]
    assert got[0].event == "hello" and head >= len(values)
    assert event_seqs(got) == list(range(1, head + 1))
    assert [f.json["data"]["ops"][0]["value"] for f in got if f.event == "state_patch"] == values
    assert {f.event for f in got[1:]} <= {"state_patch", "snapshot_created"}  # 8 MiB of events: a snapshot


async def test_tenant_b_never_receives_tenant_a_events(shared_server: AtomsServer) -> None:
    stream = f"canvas:shared{uuid.uuid4().hex[:8]}"
    a = StreamClient(shared_server.url, shared_server.token("tenant-a", "ann"), stream)
    b = StreamClient(shared_server.url, shared_server.token("tenant-b", "bob"), stream)
    async with httpx.AsyncClient(headers=b.headers) as http:
        reader = asyncio.create_task(collect(http, b.events_url, reached(1)))
        await asyncio.sleep(0.3)
        for i in range(5):
            assert a.post(patch(stream, f"/a{i}", "secret")).status_code == 202
        b.post(patch(stream, "/mine", "b"))
        got = await reader
    assert "secret" not in "".join(f.data for f in got)
    assert event_seqs(got) == [1] and got[-1].json["data"]["ops"][0]["path"] == "/mine"
    assert b.state()["state"] == {"mine": "b"}


async def test_resync_when_history_is_gone_or_id_is_ahead(tmp_path: object) -> None:
    from pathlib import Path

    env = {"ATOMS_HISTORY_RETENTION": "10", "ATOMS_SNAPSHOT_EVERY": "10"}
    with running_server(Path(str(tmp_path)) / "data", env=env) as server:
        client = StreamClient(server.url, server.token(), "canvas:pruned")
        for i in range(40):
            client.post(patch(client.stream, f"/k{i}", i))
        head = client.state()["seq"]
        history = client.history()
        assert history["first_seq"] > 1 and history["events"][0]["seq"] == history["first_seq"]
        async with httpx.AsyncClient(headers=client.headers) as http:
            for last in ("1", str(head + 5)):
                got = await collect(http, client.events_url, lambda g: any(f.event == "state_snapshot" for f in g),
                                    headers={"Last-Event-ID": last})
                assert [f.event for f in got] == ["hello", "resync", "state_snapshot"]
                snapshot = got[-1].json
                assert snapshot["seq"] == head and snapshot["state"] == client.state()["state"]
            # still retained: a normal replay
            got = await collect(http, client.events_url, reached(head), headers={"Last-Event-ID": str(head - 3)})
            assert event_seqs(got) == [head - 2, head - 1, head]


async def test_bad_last_event_id_is_400(client: StreamClient) -> None:
    response = httpx.get(client.events_url, headers={**client.headers, "Last-Event-ID": "abc"})
    assert response.status_code == 400 and response.json()["code"] == "bad_request"


def _bad_request(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "bad_request"


@pytest.mark.parametrize("raw", ODD_NUMBERS)
async def test_odd_last_event_id_is_400_not_500(client: StreamClient, raw: str) -> None:
    auth = list(client.headers.items())
    header = raw.encode("latin-1") if raw == "\u00b2" else raw.encode()  # "²" as the one byte a browser sends
    _bad_request(httpx.get(client.events_url, headers=[*auth, ("Last-Event-ID", header)]))
    _bad_request(httpx.get(client.events_url, params={"last_event_id": raw}, headers=auth))


async def test_idle_readers_get_frames_written_in_place_in_order(tmp_path: object) -> None:
    """The fan-out fast path: a parked writer's frames are written by the publisher itself."""
    with running_server(tmp_path) as server:  # type: ignore[arg-type]
        client = StreamClient(server.url, server.token(), "canvas:inline")
        async with httpx.AsyncClient(headers=client.headers) as http:
            readers = [asyncio.create_task(collect(http, client.events_url, reached(30))) for _ in range(3)]
            await asyncio.sleep(0.5)
            for i in range(30):
                response = await http.post(f"{client.base_url}/v1/streams/{client.stream}/commands",
                                           json=patch(client.stream, f"/k{i}", i))
                assert response.status_code == 202
            for got in await asyncio.gather(*readers):
                assert event_seqs(got) == list(range(1, 31))
        assert metric(server.url, "atoms_sse_frames_total", 'path="inline"') >= 90
        assert metric(server.url, "atoms_sse_frames_total", 'path="queued"') == 0


async def test_disconnects_leave_no_subscriber_task_or_fd(shared_server: AtomsServer) -> None:
    assert shared_server.proc is not None
    pid = shared_server.proc.pid
    client = StreamClient(shared_server.url, shared_server.token(), "canvas:leaks")
    await asyncio.sleep(0.5)
    fds_before = len(os.listdir(f"/proc/{pid}/fd"))
    tasks_before = metric(shared_server.url, "atoms_asyncio_tasks")
    conns_before = metric(shared_server.url, "atoms_sse_connections")

    async def open_and_drop() -> None:
        async with httpx.AsyncClient(headers=client.headers) as http:
            await collect(http, client.events_url, lambda g: any(f.event == "state_snapshot" for f in g))

    await asyncio.gather(*(open_and_drop() for _ in range(40)))
    for _ in range(50):
        await asyncio.sleep(0.1)
        if metric(shared_server.url, "atoms_sse_connections") == conns_before:
            break
    assert metric(shared_server.url, "atoms_sse_connections") == conns_before
    assert metric(shared_server.url, "atoms_asyncio_tasks") <= tasks_before
    assert len(os.listdir(f"/proc/{pid}/fd")) <= fds_before + 2


def _open_raw(server: AtomsServer, stream: str, ticket: str, body: bytes = b"") -> socket.socket:
    """An SSE request on a bare socket, read up to its snapshot; the server then has nothing to write."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    sock.sendall(f"GET /v1/streams/{stream}/events?ticket={ticket} HTTP/1.1\r\nHost: x\r\n{length}\r\n".encode()
                 + body)
    got = b""
    while b"event: state_snapshot" not in got or not got.endswith(b"\n\n\r\n"):  # the chunk's end
        chunk = sock.recv(65536)
        assert chunk, got
        got += chunk
    return sock


def test_an_idle_stream_costs_the_server_one_task(shared_server: AtomsServer) -> None:
    """On the uvicorn this installs, a stream hears its disconnect from the server's cycle and writes in
    place: its request's own task is all it keeps. An upgrade that made those paths fall back (a second
    task per stream, reading ``receive()``) fails here, not only in the idle-connection benchmark."""
    ticket = shared_server.ticket("canvas:idle-tasks", ["read"])
    before = metric(shared_server.url, "atoms_asyncio_tasks")
    socks = [_open_raw(shared_server, "canvas:idle-tasks", ticket) for _ in range(20)]
    try:
        assert 20 <= metric(shared_server.url, "atoms_asyncio_tasks") - before <= 22
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("body", [b"", b"ignored"], ids=["bodiless", "with-a-body"])
async def test_a_client_that_goes_away_is_released_within_a_second(shared_server: AtomsServer, body: bytes) -> None:
    """No frame flows (no commands, heartbeats every 15 s): only the server's notice of the closed socket
    can end the stream. A GET with a body takes the plain ASGI path (a task reading it), the rest not."""
    tenant = f"gone{uuid.uuid4().hex[:8]}"
    stream = "canvas:gone"
    ticket = shared_server.ticket(stream, ["read"], token=shared_server.token(tenant=tenant))
    audit = tenant_file(shared_server.data_dir / "audit", tenant)
    before = metric(shared_server.url, "atoms_sse_connections")
    sock = _open_raw(shared_server, stream, ticket, body)
    assert metric(shared_server.url, "atoms_sse_connections") == before + 1
    await asyncio.sleep(0.3)  # the writer is parked
    sock.close()
    closed = time.monotonic()
    released = logged = None
    while (released is None or logged is None) and time.monotonic() - closed < 1.0:
        await asyncio.sleep(0.02)
        if released is None and metric(shared_server.url, "atoms_sse_connections") == before:
            released = time.monotonic() - closed
        if logged is None and audit.exists() and '"sse.closed"' in audit.read_text():
            logged = time.monotonic() - closed
    assert released is not None, "sse_open still counts the connection a second after the client left"
    assert logged is not None, "no sse.closed audit record a second after the client left"


async def test_idle_streams_do_not_hold_their_opening(tmp_path: object) -> None:
    """Each stream's opening (here a 1.8 MB snapshot) is written and let go: memory per idle stream does
    not grow with the state it started from."""
    with running_server(Path(str(tmp_path)) / "data") as server:
        assert server.proc is not None
        client = StreamClient(server.url, server.token(), "canvas:big")
        words = "lorem ipsum dolor sit amet " * 33_000  # 891 KB, well under the 1 MB body limit
        for key in ("a", "b"):
            assert httpx.post(f"{client.base_url}/v1/streams/{client.stream}/commands", headers=client.headers,
                              json=patch(client.stream, f"/{key}", words), timeout=30).status_code == 202
        ticket = server.ticket(client.stream, ["read"])
        for _ in range(5):  # a few openings first: the allocator's reuse of their buffers is then warm
            _open_raw(server, client.stream, ticket).close()
        rss_before = _rss_kb(server.proc.pid)
        held = [_open_raw(server, client.stream, ticket) for _ in range(20)]
        grown_kb = _rss_kb(server.proc.pid) - rss_before
        assert metric(server.url, "atoms_sse_connections") == 20
        for sock in held:
            sock.close()
        assert grown_kb < 12 * 1024, f"20 idle streams took {grown_kb} KB: their 1.8 MB openings are kept"


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_heartbeat_comments_arrive(tmp_path: object) -> None:
    from pathlib import Path

    with running_server(Path(str(tmp_path)) / "data", env={"ATOMS_SSE_HEARTBEAT_S": "0.2"}) as server:
        client = StreamClient(server.url, server.token(), "canvas:hb")
        async with httpx.AsyncClient(headers=client.headers) as http, \
                http.stream("GET", client.events_url) as response:
            pings = 0
            async for line in response.aiter_lines():
                pings += line == ": ping"
                if pings == 3:
                    break
        assert pings == 3


async def test_sigterm_ends_streams_cleanly(tmp_path: object) -> None:
    from pathlib import Path

    server = AtomsServer(Path(str(tmp_path)) / "data").start()
    client = StreamClient(server.url, server.token(), "canvas:term")
    async with httpx.AsyncClient(headers=client.headers, timeout=10) as http, \
            http.stream("GET", client.events_url) as response:
        seen: list[str] = []
        stopper = asyncio.get_running_loop().run_in_executor(None, server.stop)
        async for frame in frames(response):
            seen.append(frame.event)
        # the stream ended (no exception): the client can resume elsewhere
    code = await stopper
    # uvicorn re-raises the captured SIGTERM after its graceful shutdown, hence -15
    assert seen[:2] == ["hello", "state_snapshot"] and code in (0, -15)


async def test_connections_beyond_the_principal_or_tenant_cap_get_429_problem_json(capped_server: AtomsServer) -> None:
    url = capped_server.url

    def events_url() -> str:
        return f"{url}/v1/streams/canvas:c{uuid.uuid4().hex[:12]}/events"

    def auth(tenant: str, principal: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {capped_server.token(tenant=tenant, principal=principal)}"}

    def refusals(scope: str) -> float:
        return metric(url, "atoms_connections_refused_total", f'kind="sse",scope="{scope}"')

    async def until_open(n: int) -> None:
        deadline = time.monotonic() + 5
        while metric(url, "atoms_sse_connections") != n:
            assert time.monotonic() < deadline, "connection count did not settle"
            await asyncio.sleep(0.05)

    ann = auth("acme", "ann")
    async with httpx.AsyncClient() as http, contextlib.AsyncExitStack() as open_streams:
        async def hold(headers: dict[str, str]) -> httpx.Response:
            response = await open_streams.enter_async_context(http.stream("GET", events_url(), headers=headers))
            assert response.status_code == 200
            return response

        first = await hold(ann)
        await hold(ann)  # the cap counts across streams
        refused = await http.get(events_url(), headers=ann)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.headers["retry-after"] == "1"
        problem = refused.json()
        assert (problem["code"], problem["scope"], problem["limit"]) == ("too_many_connections", "principal", 2)
        assert refusals("principal") == 1

        await hold(auth("acme", "bob"))
        refused = await http.get(events_url(), headers=auth("acme", "cid"))  # acme holds 3: its cap
        assert refused.status_code == 429
        assert (refused.json()["scope"], refused.json()["limit"]) == ("tenant", 3)
        assert refusals("tenant") == 1
        await hold(auth("globex", "ann"))  # other tenants are not affected

        await first.aclose()  # a closed stream frees its place
        await until_open(3)
        again = await hold(ann)
        opening = b""
        async for chunk in again.aiter_bytes():
            opening += chunk
            if b"event: hello" in opening:
                break
    await until_open(0)
    assert (refusals("principal"), refusals("tenant")) == (1, 1)
