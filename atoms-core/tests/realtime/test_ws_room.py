"""What the peers of one WebSocket room see, over real sockets: presence, cursors, gestures and ping
relayed to the others (never echoed back), a late joiner's snapshot, leaves without ghosts, tenant
isolation, the close on shutdown, and the cost of a cursor storm."""

from __future__ import annotations

import asyncio
import time

from ws_peers import WsPeer, cpu_seconds, new_stream, until

from servers import AtomsServer
from streams_api import metric

CURSOR_HZ = 30.0  # the default ws_cursor_hz

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


async def test_a_server_shutdown_closes_sockets_with_1012(server: AtomsServer) -> None:
    peer = await WsPeer.join(server, new_stream(), server.token())
    stopping = asyncio.create_task(asyncio.to_thread(server.stop))
    assert await peer.closed(timeout=10) == 1012, "service restart: clients reconnect (elsewhere)"
    await stopping


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
