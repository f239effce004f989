"""Presence over the WebSocket with the client's ``Presence``, against a real server."""

from __future__ import annotations

import asyncio
from typing import Any

from client_support import until

from atoms_core.client import AtomsClient, Presence
from servers import AtomsServer


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
        await asyncio.to_thread(server.restart)
        await until(lambda: not ann.connected, what="the disconnect")
        await until(lambda: ann.connected and ann_sees_bob(), 15, "bob's state after the restart")
        for presence in (ann, bob):
            await presence.close()
        for listener in listeners:
            await asyncio.wait_for(listener.task, 5)
