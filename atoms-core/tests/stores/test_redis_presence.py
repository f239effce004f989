"""Presence across nodes: WebSocket peers on two ``atoms serve`` processes sharing one real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from redis_server import Nodes, two_nodes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "realtime"))  # the WS test peer lives there
from ws_peers import WsPeer, latest_states, send_presence_burst

STREAM = "canvas:room"


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    with two_nodes(tmp_path) as started:
        yield started


async def test_peers_on_different_nodes_see_each_other_their_state_and_cursors(nodes: Nodes) -> None:
    _, node_a, node_b = nodes
    token = node_a.token(principal="ann")
    ann = await WsPeer.join(node_a, STREAM, token)
    bob = await WsPeer.join(node_b, STREAM, node_a.token(principal="bob"))
    await ann.expect("presence.join", lambda m: m["peer"]["peer_id"] == bob.self_id)
    # Bob joined first on B, so he learns of Ann from the shared membership right after his snapshot.
    seen_by_bob = await bob.expect("presence.join", lambda m: m["peer"]["peer_id"] == ann.self_id)
    assert seen_by_bob["peer"]["principal_id"] == "ann"
    cid = await WsPeer.join(node_b, STREAM, node_a.token(principal="cid"))  # B now knows Ann: snapshot
    [snapshot] = cid.of_type("presence.snapshot")
    assert {p["peer_id"] for p in snapshot["peers"]} == {ann.self_id, bob.self_id}

    await bob.send({"type": "presence.update", "state": {"name": "Bob", "color": "teal"}})
    update = await ann.expect("presence.update", lambda m: m["peer_id"] == bob.self_id)
    assert update["state"] == {"name": "Bob", "color": "teal"}
    await ann.send({"type": "cursor", "x": 10.5, "y": 20})
    for peer in (bob, cid):
        moved = await peer.expect("cursors", lambda m: any(c["peer_id"] == ann.self_id for c in m["cursors"]))
        assert {"peer_id": ann.self_id, "x": 10.5, "y": 20.0} in moved["cursors"]
    await cid.send({"type": "gesture", "kind": "wave", "data": {"hand": "left"}})
    gesture = await ann.expect("gesture")
    assert gesture == {"type": "gesture", "peer_id": cid.self_id, "kind": "wave", "data": {"hand": "left"}}

    await bob.close()
    await ann.expect("presence.leave", lambda m: m["peer_id"] == bob.self_id)
    assert not [m for m in ann.messages if m["type"] == "cursors" and
                any(c["peer_id"] == ann.self_id for c in m["cursors"])], "a peer never gets its own cursor"
    assert len(ann.of_type("presence.join")) == 2, "each remote peer joins exactly once"
    for peer in (ann, cid):
        await peer.close()


async def test_a_presence_burst_relayed_from_another_node_keeps_a_fast_reader(nodes: Nodes) -> None:
    """80 sockets on node A send max-size states at once; a reader on node B, fed by the relay, stays
    connected and ends with every latest state (its outbox keeps one pending state per peer)."""
    _, node_a, node_b = nodes
    stream = "canvas:burst"
    victim = await WsPeer.join(node_b, stream, node_a.token(principal="victim"))
    flooders = list(await asyncio.gather(*(WsPeer.join(node_a, stream, node_a.token(principal=f"f{i}"), check=False)
                                           for i in range(80))))
    await victim.expect_n("presence.join", 80, timeout=30)
    await send_presence_burst(flooders, 2)
    expected = latest_states(flooders, 2)
    deadline = asyncio.get_running_loop().time() + 30
    while victim.conn.close_code is None and victim.view() != expected:
        assert asyncio.get_running_loop().time() < deadline, "the burst did not arrive"
        await asyncio.sleep(0.05)
    assert victim.conn.close_code is None, (victim.conn.close_code, victim.conn.close_reason)
    assert victim.view() == expected
    await asyncio.gather(victim.close(), *(p.close() for p in flooders))


async def test_peers_of_a_killed_node_leave_after_the_membership_ttl(tmp_path: Path) -> None:
    with two_nodes(tmp_path, {"ATOMS_WS_IDLE_TIMEOUT_S": "1.5"}) as (_, node_a, node_b):
        token = node_a.token()
        ghost = await WsPeer.join(node_a, STREAM, token)
        survivor = await WsPeer.join(node_b, STREAM, token)
        await survivor.expect("presence.join", lambda m: m["peer"]["peer_id"] == ghost.self_id)

        async def keep_alive() -> None:
            while True:
                await survivor.send({"type": "ping", "ts": 1})
                await asyncio.sleep(0.3)

        pinger = asyncio.create_task(keep_alive())
        try:
            node_a.kill()  # SIGKILL: no leave is ever sent for the ghost
            await survivor.expect("presence.leave", lambda m: m["peer_id"] == ghost.self_id, timeout=6)
            late = await WsPeer.join(node_b, STREAM, token)
            assert late.of_type("presence.snapshot")[0]["peers"] == [
                {"peer_id": survivor.self_id, "principal_id": "alice", "state": {}}]
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
        await survivor.close()
        await late.close()
