"""What one WebSocket peer is refused or cut off for, over real sockets: durable messages and bad frames
(an error each, then 1008), gestures past the rate, frames over the size cap (1009), silence (1001), a
full room (1013), not reading, and handshakes refused with problem+json."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from ws_peers import WsPeer, new_stream, ws_url

from servers import AtomsServer, running_server
from streams_api import StreamClient, metric, patch


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """Short idle timeout, small rooms, few allowed violations, small outboxes, no gesture cap to speak of."""
    env = {"ATOMS_WS_IDLE_TIMEOUT_S": "1", "ATOMS_WS_MAX_PEERS": "2", "ATOMS_WS_MAX_VIOLATIONS": "3",
           "ATOMS_WS_QUEUE_BYTES": "65536", "ATOMS_WS_GESTURE_PER_S": "100000"}
    with running_server(tmp_path_factory.mktemp("ws-tight") / "data", env=env) as srv:
        yield srv


def audit_kinds(server: AtomsServer, tenant: str) -> list[dict[str, object]]:
    path = Path(server.data_dir) / "audit" / f"{tenant}.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_silent_peer_is_removed_after_the_idle_timeout(tight_server: AtomsServer) -> None:
    stream = new_stream()
    token = tight_server.token()
    alive = await WsPeer.join(tight_server, stream, token)
    silent = await WsPeer.join(tight_server, stream, token)  # connected, but never sends a frame
    started = time.monotonic()
    while time.monotonic() - started < 2.0:
        await alive.send({"type": "ping"})
        await asyncio.sleep(0.25)
    leave = await alive.expect("presence.leave", timeout=2)
    assert leave["peer_id"] == silent.self_id
    assert await silent.closed(timeout=2) == 1001
    assert not alive.conn.close_code, "a peer that keeps talking stays"
    await alive.close()


async def test_room_is_capped_at_ws_max_peers(tight_server: AtomsServer) -> None:
    stream = new_stream()
    token = tight_server.token()
    first = await WsPeer.join(tight_server, stream, token)
    second = await WsPeer.join(tight_server, stream, token)
    ticket = tight_server.ticket(stream, ["presence"], token)
    async with connect(ws_url(tight_server, stream, ticket)) as third:
        await third.wait_closed()
        assert (third.close_code, third.close_reason) == (1013, "room_full")
    await first.send({"type": "ping"})
    await first.expect("pong")
    assert len(first.of_type("presence.join")) == 1, "the refused peer was never announced"
    await first.close()
    await second.close()


async def test_a_peer_that_stops_reading_is_dropped_not_buffered(tight_server: AtomsServer) -> None:
    stream = new_stream()
    token = tight_server.token()
    flooder = await WsPeer.join(tight_server, stream, token)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # keep the kernel from absorbing it all
    sock.connect(("127.0.0.1", tight_server.port))
    ticket = tight_server.ticket(stream, ["presence"], token)
    stalled = await connect(ws_url(tight_server, stream, ticket), sock=sock, max_queue=1, ping_interval=None)
    await flooder.expect("presence.join")
    pad, sent = "x" * 15_000, 0
    while not flooder.of_type("presence.leave") and sent < 2_000:  # 2000 x 15 kB = 30 MB at most
        await flooder.send({"type": "gesture", "kind": "drag", "data": {"pad": pad}})
        sent += 1
        if sent % 50 == 0:
            await asyncio.sleep(0)
    leave = await flooder.expect("presence.leave", timeout=2)
    assert leave["peer_id"] != flooder.self_id
    await flooder.send({"type": "ping"})
    await flooder.expect("pong", timeout=2)  # the room goes on without the stalled peer
    stalled.transport.abort()
    await flooder.close()


async def test_durable_messages_are_refused_and_never_touch_the_timeline(tight_server: AtomsServer) -> None:
    stream = new_stream()
    token = tight_server.token(tenant="acme")
    api = StreamClient(tight_server.url, token, stream)
    assert api.post(patch(stream, "/title", "kept")).status_code == 202
    before = api.state()
    violations_before = metric(tight_server.url, "atoms_ws_violations_total")

    offender = await WsPeer.join(tight_server, stream, token)
    bystander = await WsPeer.join(tight_server, stream, token)
    await offender.send({"type": "chat.post", "role": "user", "text": "hi"})
    await offender.send(patch(stream, "/title", "overwritten"))  # a whole CommandEnvelope
    errors = await offender.expect_n("error", 2)
    assert [e["code"] for e in errors] == ["ws_ephemeral_only", "ws_ephemeral_only"]
    assert "'chat.post' is refused" in errors[0]["detail"] and "'state.patch' is refused" in errors[1]["detail"]

    await offender.send("{not json")  # third violation: max is 3
    assert await offender.closed() == 1008
    assert [e["code"] for e in offender.of_type("error")] == ["ws_ephemeral_only"] * 2 + ["bad_frame"]

    await bystander.expect("presence.leave", lambda m: m["peer_id"] == offender.self_id)
    assert [m["type"] for m in bystander.messages] == ["presence.snapshot", "presence.leave"]
    after = api.state()
    assert (after["seq"], after["version"], after["state"]) == (before["seq"], before["version"], before["state"])
    assert api.history()["events"][-1]["seq"] == before["seq"]
    assert metric(tight_server.url, "atoms_ws_violations_total") == violations_before + 3
    await asyncio.sleep(0.7)  # the audit log flushes every 0.5 s
    refused = [e for e in audit_kinds(tight_server, "acme") if e["kind"] == "ws.violation" and e["stream"] == stream]
    assert [e["reason"] for e in refused] == ["ws_ephemeral_only", "ws_ephemeral_only", "bad_frame"]
    await bystander.close()


async def test_bad_frames_get_precise_errors(shared_server: AtomsServer) -> None:
    stream = new_stream()
    peer = await WsPeer.join(shared_server, stream, shared_server.token())
    await peer.send(b"\x00binary")
    await peer.send({"type": "cursor", "x": "left", "y": 1})
    await peer.send('{"type": "cursor", "x": NaN, "y": 1}')
    await peer.send({"type": "presence.update", "state": {"blob": "x" * 5000}})  # ws_presence_max_bytes 4096
    errors = [(e["code"], e["detail"]) for e in await peer.expect_n("error", 4)]
    assert [code for code, _ in errors] == ["bad_frame", "bad_frame", "bad_frame", "too_large"]
    assert "/x" in errors[1][1]
    # Four violations stay under the default limit of five: the socket is still usable.
    await peer.send({"type": "ping"})
    await peer.expect("pong")
    await peer.close()


async def test_gesture_flood_is_rate_capped_without_closing(shared_server: AtomsServer) -> None:
    stream = new_stream()
    token = shared_server.token()
    sender = await WsPeer.join(shared_server, stream, token)
    receiver = await WsPeer.join(shared_server, stream, token)
    for i in range(200):
        await sender.send({"type": "gesture", "kind": "drag", "data": {"i": i}})
    await sender.send({"type": "ping"})
    await sender.expect("pong")
    await asyncio.sleep(0.2)
    got = len(receiver.of_type("gesture"))
    assert 60 <= got <= 70, got  # ws_gesture_per_s 60 with one second of burst
    assert [e["code"] for e in sender.of_type("error")] == ["rate_limited"]
    await sender.close()
    await receiver.close()


async def test_oversize_frame_closes_with_1009(shared_server: AtomsServer) -> None:
    stream = new_stream()
    token = shared_server.token()
    watcher = await WsPeer.join(shared_server, stream, token)
    big = await WsPeer.join(shared_server, stream, token)
    await big.send(json.dumps({"type": "gesture", "kind": "x", "data": {"pad": "x" * 20_000}}))
    assert await big.closed() == 1009
    await watcher.expect("presence.leave", lambda m: m["peer_id"] == big.self_id)
    assert not watcher.of_type("gesture")
    await watcher.close()


@pytest.mark.parametrize(
    ("scopes", "stream_of_ticket", "status", "code"),
    [
        (None, None, 401, "unauthenticated"),
        (["read", "write"], None, 403, "missing_scope"),
        (["presence"], "canvas:elsewhere", 403, "wrong_stream"),
    ],
)
async def test_handshake_is_refused_with_problem_json(shared_server: AtomsServer, scopes: list[str] | None,
                                                      stream_of_ticket: str | None, status: int, code: str) -> None:
    stream = new_stream()
    ticket = shared_server.ticket(stream_of_ticket or stream, scopes) if scopes else None
    with pytest.raises(InvalidStatus) as info:
        await connect(ws_url(shared_server, stream, ticket))
    response = info.value.response
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert json.loads(response.body)["code"] == code


@pytest.mark.parametrize(
    ("query", "headers", "status", "code"),
    [
        ("?tenant_id=globex", {}, 400, "tenant_in_query"),
        ("", {"Authorization": "Bearer not-a-jwt"}, 401, "invalid_token"),
    ],
)
async def test_middleware_refusals_are_problem_json_too(shared_server: AtomsServer, query: str,
                                                        headers: dict[str, str], status: int, code: str) -> None:
    url = f"ws://127.0.0.1:{shared_server.port}/v1/streams/{new_stream()}/ws{query}"
    with pytest.raises(InvalidStatus) as info:
        await connect(url, additional_headers=headers)
    response = info.value.response
    assert response.status_code == status
    assert json.loads(response.body)["code"] == code
