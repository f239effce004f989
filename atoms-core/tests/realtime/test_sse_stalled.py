"""SSE clients that open a stream of a multi-MB state and never read (issue 13): the server's memory does
not grow with their number, other tenants' readers keep getting events, and a stalled reader that reads
at last gets the whole opening and every event after it, in order."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from servers import AtomsServer, running_server
from sse_reader import collect
from streams_api import metric, patch

STREAM = "canvas:big"
WORDS = "lorem ipsum dolor sit amet " * 380  # 10 KB of prose (the sidecar guard takes it)
EVENTS = 400  # 4 MB of state, in events small enough to replay a page at a time
STALLED = 60
LATER = 5  # small events appended while the readers are stalled


def _fill(server: AtomsServer, token: str) -> None:
    """``EVENTS`` commands of 10 KB each (in batches under the body limit): a 4 MB state and history."""
    url = f"{server.url}/v1/streams/{STREAM}/commands"
    for first in range(0, EVENTS, 90):
        batch = [patch(STREAM, f"/k{i}", WORDS) for i in range(first, min(first + 90, EVENTS))]
        response = httpx.post(url, json=batch, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == 202, response.text


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _open_stalled(server: AtomsServer, ticket: str, last_event_id: int | None) -> socket.socket:
    """An SSE request on a socket with a tiny receive buffer that is then not read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
    sock.sendall(f"GET /v1/streams/{STREAM}/events?ticket={ticket} HTTP/1.1\r\nHost: x\r\n{resume}\r\n".encode())
    return sock


def _openings_released(server: AtomsServer, within_s: float = 5.0) -> None:
    """Wait until no opening is held any more (the gauge back at 0), at most ``within_s``."""
    deadline = time.monotonic() + within_s
    while metric(server.url, "atoms_sse_opening_bytes") != 0:
        assert time.monotonic() < deadline, "openings still held"
        time.sleep(0.05)


def _read_frames(sock: socket.socket, last_seq: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Read the chunked SSE response up to the frame with id ``last_seq`` (an event, or the snapshot when
    ``last_seq`` is the opening's head): its frames as dicts of their fields (event, id, data)."""
    sock.settimeout(timeout)
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, raw = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    body, start, scan, frames = bytearray(), 0, 0, []  # de-chunked; frames before ``start`` parsed, no
    # frame end before ``scan``
    while True:
        while b"\r\n" in raw:  # take every whole chunk
            size_line, rest = raw.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                break
            body += rest[:size]
            raw = rest[size + 2:]
        while (end := body.find(b"\n\n", max(start, scan))) >= 0:
            fields: dict[str, Any] = {}
            for line in body[start:end].decode().split("\n"):
                name, _, value = line.partition(": ")
                fields[name] = value
            start = end + 2
            if "event" in fields:
                frames.append(fields)
                if fields.get("id") == str(last_seq):
                    return frames
        scan = max(start, len(body) - 1)
        chunk = sock.recv(1 << 20)
        assert chunk, "the server closed the stalled stream"
        raw += chunk


async def _prompt_reader(server: AtomsServer) -> float:
    """Another tenant's reader while the stalled ones are open: the slowest of 10 deliveries, in seconds."""
    token = server.token(tenant="good", principal="gail")
    stream = "canvas:calm"
    sent: dict[int, float] = {}
    latencies: list[float] = []

    def arrived(got: list[Any]) -> bool:
        for frame in got[len(latencies) + 2:]:  # after hello and the snapshot
            latencies.append(time.monotonic() - sent[int(frame.id)])
        return len(latencies) == 10

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        reader = asyncio.create_task(collect(http, f"{server.url}/v1/streams/{stream}/events", arrived, timeout=20))
        await asyncio.sleep(0.3)
        for seq in range(1, 11):
            sent[seq] = time.monotonic()
            response = await http.post(f"{server.url}/v1/streams/{stream}/commands", json=patch(stream, "/n", seq))
            assert response.status_code == 202
            await asyncio.sleep(0.05)
        await reader
    return max(latencies)


@pytest.mark.parametrize(("opening", "last_event_id"), [("snapshot", None), ("replay", 0), ("resync", 10**9)])
async def test_stalled_readers_of_a_large_state_hold_no_copy_of_it(tmp_path: Path, opening: str,
                                                                  last_event_id: int | None) -> None:
    """60 stalled openings of a 4 MB state (its snapshot, its whole history replayed, or a resync) used to
    take ~4 MB each, the whole opening in each connection's write buffer (240 MB); now the snapshot is one
    shared frame and every opening goes out a slice at a time as the client reads."""
    with running_server(tmp_path / "data") as server:
        assert server.proc is not None
        pid = server.proc.pid
        token = server.token(tenant="evil", principal="mallory")
        _fill(server, token)
        headers = {"Authorization": f"Bearer {token}"}
        state = httpx.get(f"{server.url}/v1/streams/{STREAM}/state", headers=headers).json()
        assert state["seq"] == EVENTS
        ticket = server.ticket(STREAM, ["read"], token=token)
        for _ in range(3):  # a few whole openings first: the allocator's reuse of their buffers is warm
            with _open_stalled(server, ticket, last_event_id) as sock:
                _read_frames(sock, EVENTS)
        rss_before = _rss_kb(pid)

        stalled = [_open_stalled(server, ticket, last_event_id) for _ in range(STALLED)]
        try:
            deadline = time.monotonic() + 10
            while metric(server.url, "atoms_sse_connections") < STALLED:
                assert time.monotonic() < deadline, "the stalled streams did not all open"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # each has written what its transport takes
            grown_kb = _rss_kb(pid) - rss_before
            slowest = await _prompt_reader(server)
            for i in range(LATER):
                assert httpx.post(f"{server.url}/v1/streams/{STREAM}/commands", headers=headers,
                                  json=patch(STREAM, f"/later{i}", i)).status_code == 202
            final = httpx.get(f"{server.url}/v1/streams/{STREAM}/state", headers=headers).json()
            frames = _read_frames(stalled[0], EVENTS + LATER)
        finally:
            for sock in stalled:
                sock.close()

    assert grown_kb < 40 * 1024, f"{STALLED} stalled {opening} openings of a 4 MB state took {grown_kb} KB"
    assert slowest < 1.0, f"another tenant's reader waited {slowest:.2f} s for an event"

    kinds = {"snapshot": ["hello", "state_snapshot"], "replay": ["hello"],
             "resync": ["hello", "resync", "state_snapshot"]}[opening]
    assert [f["event"] for f in frames[:len(kinds)]] == kinds
    doc: dict[str, Any] = {}
    if opening != "replay":
        snapshot = json.loads(frames[len(kinds) - 1]["data"])
        assert (snapshot["seq"], snapshot["state"]) == (EVENTS, state["state"])
        doc = snapshot["state"]
    events = frames[len(kinds):]
    first = 1 if opening == "replay" else EVENTS + 1
    assert [int(f["id"]) for f in events] == list(range(first, EVENTS + LATER + 1))
    for frame in events:
        for op in json.loads(frame["data"])["data"]["ops"]:
            doc[op["path"][1:]] = op["value"]
    assert doc == final["state"] and final["seq"] == EVENTS + LATER


def test_the_openings_budget_refuses_one_tenant_past_its_share(tmp_path: Path) -> None:
    """Snapshots of many different seqs held by stalled readers would each stay alive: past the tenant's
    budget a new opening is a 429 problem, while another tenant still opens."""
    env = {"ATOMS_SSE_OPENING_TENANT_BYTES": str(6 * 1024 * 1024)}
    with running_server(tmp_path / "data", env=env) as server:
        token = server.token(tenant="evil", principal="mallory")
        _fill(server, token)
        ticket = server.ticket(STREAM, ["read"], token=token)
        headers = {"Authorization": f"Bearer {token}"}
        held = [_open_stalled(server, ticket, None)]  # pins the 4 MB frame of seq 400
        try:
            time.sleep(0.5)
            assert metric(server.url, "atoms_sse_opening_bytes") > 4_000_000
            httpx.post(f"{server.url}/v1/streams/{STREAM}/commands", headers=headers,
                       json=patch(STREAM, "/next", 1)).raise_for_status()
            refused = httpx.get(f"{server.url}/v1/streams/{STREAM}/events", headers=headers)  # seq 401: new frame
            assert refused.status_code == 429
            assert refused.headers["content-type"].startswith("application/problem+json")
            problem = refused.json()
            assert (problem["code"], problem["scope"]) == ("too_many_openings", "tenant")
            assert metric(server.url, "atoms_sse_openings_refused_total", 'scope="tenant"') == 1

            other = server.token(tenant="good", principal="gail")
            ok = asyncio.run(_first_frames(server, other, f"canvas:{uuid.uuid4().hex[:8]}"))
            assert ok == ["hello", "state_snapshot"]
        finally:
            for sock in held:
                sock.close()
        _openings_released(server)  # the stalled reader's frame is let go


def test_one_principal_cannot_use_up_its_tenants_openings_budget(tmp_path: Path) -> None:
    """Past its own share (``sse_opening_principal_bytes``) one principal's new openings are refused, while
    another principal of the same tenant still opens the same stream."""
    env = {"ATOMS_SSE_OPENING_PRINCIPAL_BYTES": str(6 * 1024 * 1024)}
    with running_server(tmp_path / "data", env=env) as server:
        token = server.token(tenant="evil", principal="mallory")
        _fill(server, token)
        held = [_open_stalled(server, server.ticket(STREAM, ["read"], token=token), None)]  # seq 400's frame
        try:
            time.sleep(0.5)
            headers = {"Authorization": f"Bearer {token}"}
            httpx.post(f"{server.url}/v1/streams/{STREAM}/commands", headers=headers,
                       json=patch(STREAM, "/next", 1)).raise_for_status()
            refused = httpx.get(f"{server.url}/v1/streams/{STREAM}/events", headers=headers)  # seq 401: new frame
            assert refused.status_code == 429
            assert (refused.json()["code"], refused.json()["scope"]) == ("too_many_openings", "principal")
            assert "sse_opening_principal_bytes" in refused.json()["detail"]
            colleague = server.token(tenant="evil", principal="trent")
            assert asyncio.run(_first_frames(server, colleague, STREAM)) == ["hello", "state_snapshot"]
        finally:
            for sock in held:
                sock.close()


def test_stalled_replays_of_large_events_are_bounded_by_the_openings_budget(tmp_path: Path) -> None:
    """A replayed event larger than a slice is each stalled reader's own copy: those copies count in the
    openings' budget, so 40 stalled resumes hold about the budget, not 40 copies; the rest are ended (the
    client resumes later) and counted."""
    env = {"ATOMS_SSE_OPENING_PRINCIPAL_BYTES": str(3 * 1024 * 1024)}
    with running_server(tmp_path / "data", env=env) as server:
        assert server.proc is not None
        token = server.token(tenant="evil", principal="mallory")
        big = "lorem ipsum dolor sit amet " * 33_000  # 890 KB of prose per event
        for i in range(8):  # 7 MB of history: more than the kernel's send buffer takes (4 MB here)
            httpx.post(f"{server.url}/v1/streams/{STREAM}/commands", headers={"Authorization": f"Bearer {token}"},
                       json=patch(STREAM, f"/big{i}", big), timeout=30).raise_for_status()
        rss_before = _rss_kb(server.proc.pid)
        held = [_open_stalled(server, server.ticket(STREAM, ["read"], token=token), 0) for _ in range(40)]
        try:
            time.sleep(1.5)
            assert metric(server.url, "atoms_sse_opening_bytes") <= 3 * 1024 * 1024 + 1_000_000
            assert metric(server.url, "atoms_sse_openings_refused_total", 'scope="principal"') >= 30
            assert _rss_kb(server.proc.pid) - rss_before < 20_000  # 40 copies would be ~36 MB
        finally:
            for sock in held:
                sock.close()
        _openings_released(server)  # each stalled reader's copy is let go
        reader = _open_stalled(server, server.ticket(STREAM, ["read"], token=token), 0)
        try:  # a client that reads gets the whole history
            replayed = [f.get("id") for f in _read_frames(reader, 8) if f.get("event") == "state_patch"]
            assert replayed == [str(seq) for seq in range(1, 9)]
        finally:
            reader.close()


async def _first_frames(server: AtomsServer, token: str, stream: str) -> list[str]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        got = await collect(http, f"{server.url}/v1/streams/{stream}/events",
                            lambda g: any(f.event == "state_snapshot" for f in g))
    return [f.event for f in got]


@pytest.mark.parametrize("stuck", ["opening", "live"])
async def test_a_stalled_reader_is_dropped_when_its_ticket_expires(tmp_path: Path, stuck: str) -> None:
    """No stream outlives its credentials, a client that does not read included: its writer, stuck in a send
    of the opening (a 4 MB snapshot) or parked behind a live frame that filled the transport, used to wait
    for the client forever, holding the connection and its snapshot frame."""
    env = {"ATOMS_JWT_LEEWAY_S": "0", "ATOMS_SSE_QUEUE_BYTES": str(16 << 20)}  # no overflow: only expiry ends it
    with running_server(tmp_path / "data", env=env) as server:
        token = server.token(tenant="evil", principal="mallory")
        if stuck == "opening":
            _fill(server, token)
        ticket, expiry = server.ticket(STREAM, ["read"], token=token, ttl_s=4), time.monotonic() + 4
        sock = _open_stalled(server, ticket, None)
        try:
            deadline = time.monotonic() + 5
            while metric(server.url, "atoms_sse_connections") < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            if stuck == "live":
                await asyncio.sleep(0.3)  # the writer is parked: the publisher writes in its place
                for i in range(6):  # 5.5 MB: more than the kernel's buffers take
                    assert httpx.post(f"{server.url}/v1/streams/{STREAM}/commands",
                                      headers={"Authorization": f"Bearer {token}"}, timeout=30,
                                      json=patch(STREAM, f"/big{i}", WORDS * 90)).status_code == 202
            await asyncio.sleep(0.5)
            asked_at = time.monotonic()  # before the reading: open then means still open before expiry
            assert asked_at > expiry or metric(server.url, "atoms_sse_connections") == 1
            deadline = expiry + 3
            while metric(server.url, "atoms_sse_connections") or metric(server.url, "atoms_sse_opening_bytes"):
                assert time.monotonic() < deadline, "the stalled stream outlived its ticket"
                await asyncio.sleep(0.1)
        finally:
            sock.close()
