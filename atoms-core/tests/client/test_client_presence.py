"""Presence over the WebSocket with the client's ``Presence``, against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from client_support import until

from atoms_core.client import AtomsClient, Presence, ProblemError
from atoms_core.protocol.codes import CloseCode
from servers import AtomsServer, running_server


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """One refused frame closes the socket (1008); a peer silent for 1 s is removed (1001)."""
    env = {"ATOMS_WS_MAX_VIOLATIONS": "1", "ATOMS_WS_IDLE_TIMEOUT_S": "1"}
    with running_server(tmp_path_factory.mktemp("presence-strict") / "data", env=env) as srv:
        yield srv


class Listener:
    def __init__(self, presence: Presence) -> None:
        self.presence = presence
        self.messages: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for message in self.presence.messages():
            self.messages.append(message)

    def kinds(self) -> list[str]:
        return [m["type"] for m in self.messages]


async def test_two_peers_see_each_others_presence_cursor_gesture_and_leave(shared_server: AtomsServer) -> None:
    stream = "canvas:presence"
    async with AtomsClient(shared_server.url, lambda: shared_server.token(principal="ann")) as ann_client, \
            AtomsClient(shared_server.url, lambda: shared_server.token(principal="bob")) as bob_client:
        ann = ann_client.presence(stream)
        await ann.connect()
        ann_listener = Listener(ann)
        await until(lambda: ann.self_id is not None, what="ann's snapshot")

        bob = bob_client.presence(stream, cursor_hz=10)
        await bob.connect()
        bob_listener = Listener(bob)
        await until(lambda: bob.self_id is not None and ann.self_id in bob.peers, what="bob to see ann")
        bob_id = bob.self_id
        assert bob_id is not None
        await until(lambda: bob_id in ann.peers, what="ann to see bob join")
        assert ann.peers[bob_id]["principal_id"] == "bob"

        await bob.update({"name": "Bob", "colour": "#36c"})
        for x in range(5):  # a burst: throttled to 10 Hz, the latest position wins
            await bob.cursor(float(x), 2.0)
        await bob.gesture("drag", {"shape": "s1"})
        await bob.ping()
        await until(lambda: ann.peers[bob_id]["state"] == {"name": "Bob", "colour": "#36c"}, what="bob's state")
        await until(lambda: ann.cursors.get(bob_id) == (4.0, 2.0), what="bob's last cursor")
        await until(lambda: "gesture" in ann_listener.kinds() and "pong" in bob_listener.kinds(), what="relay")
        gesture = next(m for m in ann_listener.messages if m["type"] == "gesture")
        assert (gesture["peer_id"], gesture["kind"], gesture["data"]) == (bob_id, "drag", {"shape": "s1"})

        await bob.close()
        await until(lambda: bob_id not in ann.peers, what="bob's leave")
        assert "presence.leave" in ann_listener.kinds()
        await ann.close()
        for listener in (ann_listener, bob_listener):
            await asyncio.wait_for(listener.task, 5)


async def test_presence_comes_back_after_a_server_restart_with_the_last_state(server: AtomsServer) -> None:
    stream = "canvas:presence-restart"
    async with AtomsClient(server.url, lambda: server.token(principal="ann")) as ann_client, \
            AtomsClient(server.url, lambda: server.token(principal="bob")) as bob_client:
        ann, bob = ann_client.presence(stream), bob_client.presence(stream)
        await ann.connect()
        await bob.connect()
        listeners = [Listener(ann), Listener(bob)]
        await bob.update({"name": "Bob"})

        def ann_sees_bob() -> bool:
            return any(p["state"] == {"name": "Bob"} for p in ann.peers.values())

        await until(ann_sees_bob, what="bob's state")
        # Watched while the restart runs: the client may be back before ``restart`` returns.
        disconnect = asyncio.ensure_future(until(lambda: not ann.connected, what="the disconnect"))
        await asyncio.to_thread(server.restart)
        await disconnect
        await until(lambda: ann.connected and ann_sees_bob(), 15, "bob's state after the restart")
        for presence in (ann, bob):
            await presence.close()
        for listener in listeners:
            await asyncio.wait_for(listener.task, 5)


async def ends_with(presence: Presence) -> ProblemError:
    """Read ``messages()`` until it raises (a fatal close); fail if it keeps going for 10 s."""
    with pytest.raises(ProblemError) as raised:
        async with asyncio.timeout(10):
            async for _ in presence.messages():
                pass
    return raised.value


@pytest.mark.parametrize(("code", "provoke"), [
    (CloseCode.POLICY, lambda p: p.gesture("k" * 65)),  # a refused frame (kind over 64 characters)
    (CloseCode.TOO_BIG, lambda p: p.update({"pad": "x" * 20_000})),  # over ws_max_frame_bytes
])
async def test_a_fatal_close_ends_messages_instead_of_reconnecting(strict_server: AtomsServer, code: CloseCode,
                                                                   provoke: Any) -> None:
    async with AtomsClient(strict_server.url, lambda: strict_server.token(principal="ann")) as client:
        presence = client.presence(f"canvas:fatal-{int(code)}")
        await presence.connect()
        await provoke(presence)
        error = await ends_with(presence)
        assert error.code == "ws_closed" and f"closed with {int(code)}" in error.detail
        assert not presence.connected
        await presence.close()


async def test_a_retryable_close_reconnects(strict_server: AtomsServer) -> None:
    async with AtomsClient(strict_server.url, lambda: strict_server.token(principal="ann")) as client:
        presence = client.presence("canvas:retry-idle", ping_interval=3600)  # silent: closed with 1001
        listener = Listener(presence)
        await until(lambda: presence.self_id is not None, what="the first snapshot")
        first = presence.self_id
        await until(lambda: presence.self_id not in (None, first), 10, "a new connection after the idle close")
        assert not listener.task.done(), "1001 is not fatal: messages() goes on"
        await presence.close()
        await asyncio.wait_for(listener.task, 5)
