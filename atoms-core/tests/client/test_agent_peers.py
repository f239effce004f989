"""The demo agent as a first-class peer, over a real ``atoms serve``: it joins presence as ``kind:
agent`` with a status, stops a reply when a person asks (through the timeline), and arranges the
shapes with one ``state.patch`` on ``base_version``, retried after a concurrent edit."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from client_support import Follower, until

from atoms_core.client import AtomsClient, Presence
from atoms_core.client.agent import ChatAgent, reply_text
from atoms_core.client.agent_canvas import GAP, ORIGIN
from servers import AtomsServer


def iso(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


class Watcher:
    """A person's presence: records every state the agent peer announces, in order."""

    def __init__(self, presence: Presence) -> None:
        self.presence = presence
        self.states: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for message in self.presence.messages():
            if message["type"] == "presence.update" and self.agent_id() == message["peer_id"]:
                self.states.append(message["state"])
            elif message["type"] in ("presence.join", "presence.snapshot"):
                peers = [message["peer"]] if message["type"] == "presence.join" else message["peers"]
                self.states += [p["state"] for p in peers if p["principal_id"] == "agent" and p["state"]]

    def agent_id(self) -> str | None:
        return next((k for k, p in self.presence.peers.items() if p["principal_id"] == "agent"), None)

    def statuses(self) -> list[str]:
        """The agent's statuses with repeats folded (``idle, thinking, writing, idle``)."""
        out: list[str] = []
        for state in self.states:
            if not out or out[-1] != state.get("status"):
                out.append(state.get("status", "?"))
        return out

    async def stop(self) -> None:
        await self.presence.close()
        await asyncio.wait_for(self.task, 5)


@contextlib.asynccontextmanager
async def running_agent(server: AtomsServer, stream: str, **options: Any) -> AsyncIterator[list[str]]:
    """The demo agent on ``stream``, in this process but over loopback HTTP/SSE/WS like any client."""
    lines: list[str] = []
    async with AtomsClient(server.url, lambda: server.token(principal="agent")) as client:
        task = asyncio.create_task(ChatAgent(client, stream, log=lines.append, **options).run())
        try:
            await until(lambda: any(line.startswith("following") for line in lines), what="the agent to follow")
            yield lines
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_agent_is_a_presence_peer_with_status_and_stops_a_reply_within_a_second(
        shared_server: AtomsServer) -> None:
    stream = "canvas:agent-peer"
    async with AtomsClient(shared_server.url, lambda: shared_server.token(principal="ann")) as ann, \
            running_agent(shared_server, stream, delay=0.05) as lines:
        watcher = Watcher(ann.presence(stream))
        await until(lambda: watcher.agent_id() is not None and watcher.statuses() == ["idle"], what="agent join")
        agent = watcher.presence.peers[watcher.agent_id() or ""]
        assert agent["state"] == {"kind": "agent", "name": "Agent", "color": "#7c3aed", "status": "idle"}

        follower = Follower(ann.subscribe(stream))
        await until(lambda: follower.sub.view.has_state)
        question = "Tell me a long story about the grid"
        await ann.command(stream, "chat.post", {"role": "user", "text": question})

        def reply() -> dict[str, Any]:
            chat = follower.sub.view.doc.get("chat", [])
            return chat[1] if len(chat) > 1 else {}

        await until(lambda: len(reply().get("text", "")) > 20, 10, "the reply to stream")
        assert watcher.statuses() == ["idle", "thinking", "writing"]
        stopped = await ann.command(stream, "state.patch",
                                    {"ops": [{"op": "add", "path": "/chat/1/stop_requested", "value": True}]})
        asked = time.monotonic()
        await until(lambda: reply().get("interrupted") is True, 5, "the interrupted mark")
        assert time.monotonic() - asked < 1.0
        await until(lambda: watcher.statuses()[-1:] == ["idle"], 5, "idle again")
        assert watcher.statuses() == ["idle", "thinking", "writing", "idle"]

        await asyncio.sleep(0.5)  # time for a token that should not come
        full = reply_text(question)
        text = reply()["text"]
        assert full.startswith(text) and len(text) < len(full) // 2, "the reply stopped early"
        events = {e.seq: e for e in follower.events}
        tokens = [e for e in follower.events if e.type.value == "token_patch" and e.data["delta"]]
        wrote_for = iso(tokens[-1].ts) - iso(events[stopped.seq].ts)
        assert wrote_for < 1.0, f"it kept writing {wrote_for:.2f} s after the stop"
        last = [e for e in follower.events if e.type.value == "token_patch"][-1]
        assert last.data["final"] is True and last.seq > stopped.seq, "the token stream is closed"
        assert any(line.startswith("stopped /chat/1") for line in lines)
        await follower.stop()
        await watcher.stop()


SHAPES = {f"s{i}": {"id": f"s{i}", "type": "rect", "x": x, "y": y, "w": 80, "h": 60, "z": i, "fill": "#ccc"}
          for i, (x, y) in enumerate([(500, 30), (10, 400), (260, 260), (700, 500), (90, 90)])}


@pytest.mark.parametrize("ask", ["Please arrange the shapes", "tidy up"])
async def test_agent_arranges_shapes_and_keeps_a_concurrent_edit_after_a_version_conflict(
        shared_server: AtomsServer, ask: str) -> None:
    stream = f"canvas:agent-arrange-{ask.split()[0].lower()}"
    async with AtomsClient(shared_server.url, lambda: shared_server.token(principal="ann")) as ann, \
            AtomsClient(shared_server.url, lambda: shared_server.token(principal="bob")) as bob:
        await ann.command(stream, "state.patch", {"ops": [{"op": "add", "path": "/shapes", "value": SHAPES}]})
        async with running_agent(shared_server, stream, step=0.3) as lines:
            watcher = Watcher(ann.presence(stream))
            await until(lambda: watcher.agent_id() is not None, what="agent join")
            follower = Follower(ann.subscribe(stream))
            await until(lambda: follower.sub.view.has_state)
            await ann.command(stream, "chat.post", {"role": "user", "text": ask})

            # Bob edits while the agent walks the shapes (it read the state, it has not committed yet).
            await until(lambda: any(s.get("selected") for s in watcher.states), 10, "the agent to edit a shape")
            new = {"id": "late", "type": "ellipse", "x": 999, "y": 999, "w": 40, "h": 40, "z": 9, "fill": "#0f0"}
            await bob.command(stream, "state.patch", {"ops": [
                {"op": "replace", "path": "/shapes/s2/fill", "value": "#f00"},
                {"op": "add", "path": "/shapes/late", "value": new}]})
            await until(lambda: any(m.get("text", "").startswith("Arranged")
                                    for m in follower.sub.view.doc.get("chat", [])), 15, "the agent's note")

            assert any("is stale" in line for line in lines), "the first patch must have met a conflict"
            shapes = (await ann.state(stream))["state"]["shapes"]
            assert shapes["s2"]["fill"] == "#f00" and shapes["late"]["fill"] == "#0f0", "bob's edit is kept"
            cells = {((s["x"] - ORIGIN) / (80 + GAP), (s["y"] - ORIGIN) / (60 + GAP)) for s in shapes.values()}
            assert len(cells) == 6 and all(c.is_integer() for cell in cells for c in cell), cells
            assert cells == {(c, r) for r in range(2) for c in range(3)}
            agent_patches = [e for e in follower.events if e.actor == "agent" and e.type.value == "state_patch"
                             and e.data["ops"][0]["path"].startswith("/shapes/")]
            assert len(agent_patches) == 1, "one patch moves every shape"
            assert {s.get("selected") for s in watcher.states} >= set(shapes), "it selected each shape it moved"
            await until(lambda: watcher.statuses()[-1] == "idle", 5, "idle again")
            assert watcher.states[-1].get("selected") is None, "nothing stays selected"
            await follower.stop()
            await watcher.stop()
