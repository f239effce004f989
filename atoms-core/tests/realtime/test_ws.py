"""The ephemeral WebSocket (contract §8) over real sockets: presence, cursors, gestures, ping, refusals,
no ghosts, tenant isolation, and the cost of a cursor storm."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from ws_peers import WsPeer, latest_states, send_presence_burst, ws_url

from atoms_core.config.settings import Settings
from servers import AtomsServer, running_server
from streams_api import StreamClient, metric, patch

CURSOR_HZ = 30.0  # the default ws_cursor_hz


def new_stream() -> str:
    return f"canvas:{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """Short idle timeout, small rooms, few allowed violations, small outboxes, no gesture cap to speak of."""
    env = {"ATOMS_WS_IDLE_TIMEOUT_S": "1", "ATOMS_WS_MAX_PEERS": "2", "ATOMS_WS_MAX_VIOLATIONS": "3",
           "ATOMS_WS_QUEUE_BYTES": "65536", "ATOMS_WS_GESTURE_PER_S": "100000"}
    with running_server(tmp_path_factory.mktemp("ws-tight") / "data", env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def crowd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """Defaults, except that one principal may hold 100 sockets: the presence fan-out alone must be fair."""
    env = {"ATOMS_WS_MAX_PER_PRINCIPAL": "100"}
    with running_server(tmp_path_factory.mktemp("ws-crowd") / "data", env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """Two sockets per principal, three per tenant."""
    env = {"ATOMS_WS_MAX_PER_PRINCIPAL": "2", "ATOMS_WS_MAX_PER_TENANT": "3"}
    with running_server(tmp_path_factory.mktemp("ws-capped") / "data", env=env) as srv:
        yield srv


def audit_kinds(server: AtomsServer, tenant: str) -> list[dict[str, object]]:
    path = Path(server.data_dir) / "audit" / f"{tenant}.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def presence_burst(server: AtomsServer, victim: WsPeer, flooders: list[WsPeer], rounds: int = 2) -> float:
    """Every flooder sends ``rounds`` max-size presence updates at once; wait until the victim holds the last
    state of each (or was closed). Returns the server's CPU seconds over the burst and one quiet second."""
    assert server.proc is not None
    cpu_before = cpu_seconds(server.proc.pid)
    await send_presence_burst(flooders, rounds)
    expected = latest_states(flooders, rounds)
    await until(lambda: victim.conn.close_code is not None
                or all(victim.view().get(peer_id) == state for peer_id, state in expected.items()), timeout=60)
    await asyncio.sleep(1.0)  # what the burst set off (closes, leaves) settles too
    return cpu_seconds(server.proc.pid) - cpu_before


async def assert_unharmed(victim: WsPeer, flooders: list[WsPeer], rounds: int = 2) -> None:
    """The victim is still connected and sees the latest state of every flooder, nothing else."""
    assert victim.conn.close_code is None, (victim.conn.close_code, victim.conn.close_reason)
    await victim.send({"type": "ping", "ts": 1})
    await victim.expect("pong")
    assert victim.view() == latest_states(flooders, rounds)
    assert victim.of_type("error") == []


async def test_a_presence_burst_of_80_sockets_keeps_a_fast_reader_with_every_latest_state(
        crowd_server: AtomsServer) -> None:
    """The flood of issue 13/5: 80 sockets of one principal each send max-size presence updates in the same
    tick. An innocent reader that keeps up must stay connected and end with the latest state of every peer."""
    stream = new_stream()
    victim = await WsPeer.join(crowd_server, stream, crowd_server.token(principal="victim"))
    token = crowd_server.token(principal="mallory")
    assert crowd_server.proc is not None
    cpu_before = cpu_seconds(crowd_server.proc.pid)
    flooders = list(await asyncio.gather(*(WsPeer.join(crowd_server, stream, token, check=False)
                                           for _ in range(80))))
    await victim.expect_n("presence.join", 80, timeout=30)
    handshakes = cpu_seconds(crowd_server.proc.pid) - cpu_before
    cpu = await presence_burst(crowd_server, victim, flooders)
    print(f"\npresence burst: 80 handshakes server CPU {handshakes:.2f}s; 80 sockets x 2 max-size updates, "
          f"server CPU {cpu:.2f}s")
    await assert_unharmed(victim, flooders)
    assert all(peer.conn.close_code is None for peer in flooders), "the flooders, readers too, stay connected"
    await asyncio.gather(victim.close(), *(p.close() for p in flooders))


async def test_one_principal_gets_at_most_its_cap_of_sockets_and_cannot_harm_a_reader(
        shared_server: AtomsServer) -> None:
    """The same flood at the default settings: 80 handshakes of one principal get ``ws_max_per_principal``
    sockets and 429 ``too_many_connections`` for the rest; the burst of those sockets harms no reader."""
    stream = new_stream()
    victim = await WsPeer.join(shared_server, stream, shared_server.token(principal="victim"))
    token = shared_server.token(principal="mallory")
    refused_before = metric(shared_server.url, "atoms_connections_refused_total", 'kind="ws",scope="principal"')
    assert shared_server.proc is not None
    cpu_before = cpu_seconds(shared_server.proc.pid)
    attempts = await asyncio.gather(*(WsPeer.join(shared_server, stream, token, check=False) for _ in range(80)),
                                    return_exceptions=True)
    flooders = [peer for peer in attempts if isinstance(peer, WsPeer)]
    await victim.expect_n("presence.join", len(flooders), timeout=30)
    handshakes = cpu_seconds(shared_server.proc.pid) - cpu_before
    cpu = await presence_burst(shared_server, victim, flooders)
    print(f"\npresence burst at the default cap: 80 handshakes ({len(flooders)} accepted) server CPU "
          f"{handshakes:.2f}s; {len(flooders)} sockets x 2 max-size updates, server CPU {cpu:.2f}s")
    await assert_unharmed(victim, flooders)

    cap = Settings.model_fields["ws_max_per_principal"].default
    assert len(flooders) == cap < 80
    refusals = [error for error in attempts if not isinstance(error, WsPeer)]
    assert all(isinstance(error, InvalidStatus) for error in refusals), refusals
    problems = {(e.response.status_code, json.loads(e.response.body)["code"]) for e in refusals}  # type: ignore[union-attr]
    assert problems == {(429, "too_many_connections")}
    refused = metric(shared_server.url, "atoms_connections_refused_total", 'kind="ws",scope="principal"')
    assert refused == refused_before + 80 - cap
    await asyncio.gather(victim.close(), *(p.close() for p in flooders))
    await until(lambda: metric(shared_server.url, "atoms_ws_connections") == 0)


async def test_a_gesture_burst_of_one_principal_drops_gestures_not_readers(shared_server: AtomsServer) -> None:
    """All the sockets one principal may hold send a second's burst of near-max-size gestures at once. A
    reader that keeps up misses some gestures (they are ephemeral) but keeps its connection, and so do they."""
    stream = new_stream()
    victim = await WsPeer.join(shared_server, stream, shared_server.token(principal="victim"), check=False)
    cap = Settings.model_fields["ws_max_per_principal"].default
    token = shared_server.token(principal="mallory")
    flooders = list(await asyncio.gather(*(WsPeer.join(shared_server, stream, token, check=False)
                                           for _ in range(cap))))
    await victim.expect_n("presence.join", cap, timeout=30)
    gesture = {"type": "gesture", "kind": "drag", "data": {"pad": "x" * 15_000}}  # ws_max_frame_bytes is 16384
    for _ in range(60):  # ws_gesture_per_s 60, one second of burst: all of it is relayed
        await asyncio.gather(*(peer.send(gesture) for peer in flooders))
    await flooders[0].send({"type": "presence.update", "state": {"after": "burst"}})
    await victim.expect("presence.update", lambda m: m["state"] == {"after": "burst"}, timeout=30)
    assert victim.conn.close_code is None, (victim.conn.close_code, victim.conn.close_reason)
    assert victim.of_type("gesture"), "gestures still get through"
    assert all(peer.conn.close_code is None for peer in flooders)
    await asyncio.gather(victim.close(), *(p.close() for p in flooders))
    await until(lambda: metric(shared_server.url, "atoms_ws_connections") == 0)


async def test_sockets_beyond_the_principal_or_tenant_cap_get_429_problem_json(capped_server: AtomsServer) -> None:
    url = capped_server.url

    async def refused(tenant: str, principal: str) -> dict[str, object]:
        stream = new_stream()
        ticket = capped_server.ticket(stream, ["presence"], capped_server.token(tenant=tenant, principal=principal))
        with pytest.raises(InvalidStatus) as info:
            await connect(ws_url(capped_server, stream, ticket))
        response = info.value.response
        assert response.status_code == 429
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["retry-after"] == "1"
        problem: dict[str, object] = json.loads(response.body)
        assert problem["code"] == "too_many_connections"
        return problem

    def refusals(scope: str) -> float:
        return metric(url, "atoms_connections_refused_total", f'kind="ws",scope="{scope}"')

    ann = capped_server.token(principal="ann")
    first = await WsPeer.join(capped_server, new_stream(), ann)
    second = await WsPeer.join(capped_server, new_stream(), ann)  # the cap counts across streams
    problem = await refused("acme", "ann")
    assert (problem["scope"], problem["limit"]) == ("principal", 2) and "'ann'" in str(problem["detail"])
    assert refusals("principal") == 1

    bob = await WsPeer.join(capped_server, new_stream(), capped_server.token(principal="bob"))
    problem = await refused("acme", "cid")  # acme holds 3 sockets: its cap
    assert (problem["scope"], problem["limit"]) == ("tenant", 3)
    assert refusals("tenant") == 1
    elsewhere = await WsPeer.join(capped_server, new_stream(), capped_server.token(tenant="globex", principal="ann"))

    await first.close()  # a closed socket frees its place at once
    await until(lambda: metric(url, "atoms_ws_connections") == 3)
    again = await WsPeer.join(capped_server, new_stream(), ann)
    await again.send({"type": "ping"})
    await again.expect("pong")
    for peer in (second, bob, elsewhere, again):
        await peer.close()
    await until(lambda: metric(url, "atoms_ws_connections") == 0)
    assert (refusals("principal"), refusals("tenant")) == (1, 1)


async def test_two_peers_see_presence_cursor_gesture_and_pong(shared_server: AtomsServer) -> None:
    stream = new_stream()
    alice = await WsPeer.join(shared_server, stream, shared_server.token(principal="alice"))
    bob = await WsPeer.join(shared_server, stream, shared_server.token(principal="bob"))
    try:
        assert alice.of_type("presence.snapshot")[0]["peers"] == []
        snapshot = bob.of_type("presence.snapshot")[0]
        assert snapshot["peers"] == [{"peer_id": alice.self_id, "principal_id": "alice", "state": {}}]
        joined = await alice.expect("presence.join")
        assert joined["peer"] == {"peer_id": bob.self_id, "principal_id": "bob", "state": {}}

        await alice.send({"type": "presence.update", "state": {"name": "Alice", "color": "#f00"}})
        update = await bob.expect("presence.update")
        assert update == {"type": "presence.update", "peer_id": alice.self_id,
                          "state": {"name": "Alice", "color": "#f00"}}

        await alice.send({"type": "cursor", "x": 10.5, "y": -3})
        moved = await bob.expect("cursors")
        assert moved["cursors"] == [{"peer_id": alice.self_id, "x": 10.5, "y": -3.0}]

        await bob.send({"type": "gesture", "kind": "lasso", "data": {"points": [[0, 0], [4, 2]]}})
        gesture = await alice.expect("gesture")
        assert gesture == {"type": "gesture", "peer_id": bob.self_id, "kind": "lasso",
                           "data": {"points": [[0, 0], [4, 2]]}}

        before = time.time() * 1000
        await bob.send({"type": "ping", "ts": 123.0})
        pong = await bob.expect("pong")
        assert pong["ts"] == 123.0 and pong["server_ts"] >= before - 1000

        # A peer never gets its own presence, cursor or gesture back.
        await asyncio.sleep(0.2)
        assert not alice.of_type("presence.update") and not alice.of_type("cursors")
        assert not bob.of_type("gesture") and not alice.of_type("pong")
        assert alice.of_type("error") == [] and bob.of_type("error") == []
    finally:
        await alice.close()
        await bob.close()


async def test_late_joiner_gets_current_states_in_snapshot(shared_server: AtomsServer) -> None:
    stream = new_stream()
    token = shared_server.token()
    alice = await WsPeer.join(shared_server, stream, token)
    await alice.send({"type": "presence.update", "state": {"tool": "pen"}})
    await alice.send({"type": "ping"})
    await alice.expect("pong")  # frames of one connection are handled in order: the state is set
    carol = await WsPeer.join(shared_server, stream, token)
    assert carol.of_type("presence.snapshot")[0]["peers"][0]["state"] == {"tool": "pen"}
    await alice.close()
    await carol.close()


async def test_leave_is_seen_on_clean_close_and_on_abrupt_drop(shared_server: AtomsServer) -> None:
    stream = new_stream()
    token = shared_server.token()
    watcher = await WsPeer.join(shared_server, stream, token)
    polite = await WsPeer.join(shared_server, stream, token)
    rude = await WsPeer.join(shared_server, stream, token)

    await polite.close()
    await watcher.expect("presence.leave", lambda m: m["peer_id"] == polite.self_id, timeout=2)

    rude.drop()  # TCP goes away without a close frame
    await watcher.expect("presence.leave", lambda m: m["peer_id"] == rude.self_id, timeout=2)

    late = await WsPeer.join(shared_server, stream, token)
    assert [p["peer_id"] for p in late.of_type("presence.snapshot")[0]["peers"]] == [watcher.self_id]
    await watcher.close()
    await late.close()


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


async def test_a_server_shutdown_closes_sockets_with_1012(server: AtomsServer) -> None:
    peer = await WsPeer.join(server, new_stream(), server.token())
    stopping = asyncio.create_task(asyncio.to_thread(server.stop))
    assert await peer.closed(timeout=10) == 1012, "service restart: clients reconnect (elsewhere)"
    await stopping


async def test_tenant_b_sees_nothing_of_tenant_a_on_the_same_stream(shared_server: AtomsServer) -> None:
    stream = new_stream()
    a1 = await WsPeer.join(shared_server, stream, shared_server.token(tenant="acme", principal="a1"))
    b1 = await WsPeer.join(shared_server, stream, shared_server.token(tenant="globex", principal="b1"))
    a2 = await WsPeer.join(shared_server, stream, shared_server.token(tenant="acme", principal="a2"))
    await a1.send({"type": "presence.update", "state": {"secret": "acme"}})
    await a1.send({"type": "cursor", "x": 1, "y": 1})
    await a1.send({"type": "gesture", "kind": "tap", "data": {}})
    for kind in ("presence.update", "cursors", "gesture"):
        await a2.expect(kind)  # the same tenant sees it all...
    await asyncio.sleep(0.2)
    assert b1.of_type("presence.snapshot")[0]["peers"] == []
    assert [m["type"] for m in b1.messages] == ["presence.snapshot"]  # ...the other tenant nothing
    assert all(m["peer"]["principal_id"] != "b1" for m in a1.of_type("presence.join"))
    for peer in (a1, b1, a2):
        await peer.close()


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


async def test_cursor_storm_is_coalesced_to_the_capped_rate(shared_server: AtomsServer) -> None:
    """50 peers move their cursors at 60 Hz for 2 s; each receiver gets at most ``ws_cursor_hz`` positions
    per other peer per second, and the last position of every peer arrives."""
    stream, peers_n, send_hz, seconds = new_stream(), 50, 60.0, 2.0
    tokens = [shared_server.token(principal=f"mover-{i}") for i in range(peers_n)]
    peers = list(await asyncio.gather(*(WsPeer.join(shared_server, stream, token, check=False)
                                        for token in tokens)))
    await asyncio.sleep(0.3)  # let the joins settle
    assert shared_server.proc is not None
    cpu_before, started = cpu_seconds(shared_server.proc.pid), time.monotonic()
    ticks = int(send_hz * seconds)
    sent = 0
    for tick in range(ticks):
        for i, peer in enumerate(peers):
            await peer.send({"type": "cursor", "x": tick, "y": i})
        sent += peers_n
        await asyncio.sleep(max(0.0, started + (tick + 1) / send_hz - time.monotonic()))
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.5)  # the last flush
    cpu_used = cpu_seconds(shared_server.proc.pid) - cpu_before

    bound = CURSOR_HZ * (elapsed + 0.5) + 2  # per sender, for the whole window incl. the drain
    received_frames = 0
    for receiver in peers:
        frames = receiver.of_type("cursors")
        received_frames += len(frames)
        assert len(frames) <= CURSOR_HZ * (elapsed + 0.5) + 2
        per_sender: dict[str, int] = {}
        last: dict[str, float] = {}
        for frame in frames:
            for item in frame["cursors"]:
                per_sender[item["peer_id"]] = per_sender.get(item["peer_id"], 0) + 1
                last[item["peer_id"]] = item["x"]
        assert receiver.self_id not in per_sender
        assert len(per_sender) == peers_n - 1
        assert max(per_sender.values()) <= bound, (max(per_sender.values()), bound)
        assert set(last.values()) == {ticks - 1}, "every peer's latest position arrives"
    print(f"\ncursor storm: {peers_n} peers x {send_hz:g} Hz for {elapsed:.2f}s = {sent} cursor frames in, "
          f"{received_frames} 'cursors' frames out (cap {CURSOR_HZ:g} Hz); "
          f"server CPU {cpu_used:.2f}s ({100 * cpu_used / (elapsed + 0.5):.0f}% of one core)")
    await asyncio.gather(*(p.close() for p in peers))
    await until(lambda: metric(shared_server.url, "atoms_ws_connections") == 0)


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
