"""A real WebSocket peer for tests: a ``websockets`` client on the ephemeral channel that records every
server frame (each checked against the contract models) and waits for the ones a test expects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from atoms_core.protocol.contracts import (
    WsError,
    WsPeerCursors,
    WsPeerGesture,
    WsPeerUpdate,
    WsPong,
    WsPresenceJoin,
    WsPresenceLeave,
    WsPresenceSnapshot,
)
from servers import AtomsServer

ServerMessage = Annotated[
    WsPresenceSnapshot | WsPresenceJoin | WsPresenceLeave | WsPeerUpdate | WsPeerCursors | WsPeerGesture
    | WsPong | WsError,
    Field(discriminator="type"),
]
SERVER_MESSAGE: TypeAdapter[Any] = TypeAdapter(ServerMessage)
PRESENCE_MAX = 4096  # the default ws_presence_max_bytes


def new_stream() -> str:
    return f"canvas:{uuid.uuid4().hex[:12]}"


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def ws_url(server: AtomsServer, stream: str, ticket: str | None = None) -> str:
    query = f"?ticket={ticket}" if ticket else ""
    return f"ws://127.0.0.1:{server.port}/v1/streams/{stream}/ws{query}"


class WsPeer:
    """One connection; ``messages`` holds every server frame as a dict, in arrival order."""

    def __init__(self, conn: ClientConnection, check: bool = True) -> None:
        self.conn = conn
        self.check = check
        self.messages: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self.self_id = ""

    @classmethod
    async def join(cls, server: AtomsServer, stream: str, token: str, check: bool = True) -> WsPeer:
        """Connect with a fresh ``presence`` ticket and wait for ``presence.snapshot``; ``check=False``
        skips validating each frame against the contract (load tests, where the client is the bottleneck)."""
        ticket = await asyncio.to_thread(server.ticket, stream, ["presence"], token)
        conn = await connect(ws_url(server, stream, ticket), ping_interval=None, max_size=None)
        peer = cls(conn, check)
        snapshot = await peer.expect("presence.snapshot")
        peer.self_id = snapshot["self"]
        return peer

    async def _read(self) -> None:
        try:
            async for raw in self.conn:
                message = json.loads(raw)
                if self.check:
                    SERVER_MESSAGE.validate_python(message)  # every frame matches the contract
                self.messages.append(message)
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self._arrived.set()

    async def send(self, message: Any) -> None:
        await self.conn.send(message if isinstance(message, str | bytes) else json.dumps(message))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def view(self) -> dict[str, dict[str, Any]]:
        """The room as this peer's frames so far describe it: peer id -> its latest state."""
        room: dict[str, dict[str, Any]] = {}
        for m in self.messages:
            if m["type"] == "presence.snapshot":
                room = {p["peer_id"]: p["state"] for p in m["peers"]}
            elif m["type"] == "presence.join":
                room[m["peer"]["peer_id"]] = m["peer"]["state"]
            elif m["type"] == "presence.update":
                room[m["peer_id"]] = m["state"]
            elif m["type"] == "presence.leave":
                room.pop(m["peer_id"], None)
        return room

    async def expect(self, kind: str, where: Callable[[dict[str, Any]], bool] = lambda m: True,
                     timeout: float = 5.0) -> dict[str, Any]:
        """The first recorded message of ``kind`` matching ``where``, waiting up to ``timeout``."""
        return (await self.expect_n(kind, 1, where, timeout))[0]

    async def expect_n(self, kind: str, n: int, where: Callable[[dict[str, Any]], bool] = lambda m: True,
                       timeout: float = 5.0) -> list[dict[str, Any]]:
        """The first ``n`` recorded messages of ``kind`` matching ``where``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages if m["type"] == kind and where(m)]
            if len(found) >= n:
                return found[:n]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._reader.done():
                raise AssertionError(f"{len(found)} of {n} {kind} frames; got {[m['type'] for m in self.messages]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Wait for the server to close the connection; return its close code."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.conn.close_code

    async def close(self) -> None:
        await self.conn.close()
        await self._reader

    def drop(self) -> None:
        """Vanish without a close frame, like a killed browser or a pulled cable."""
        self.conn.transport.abort()


def max_size_state(who: int, round_: int) -> dict[str, object]:
    """A presence state of exactly ``ws_presence_max_bytes`` encoded bytes."""
    state: dict[str, object] = {"who": who, "round": round_, "pad": ""}
    state["pad"] = "x" * (PRESENCE_MAX - len(json.dumps(state, separators=(",", ":"))))
    return state


async def send_presence_burst(flooders: list[WsPeer], rounds: int) -> None:
    """Every flooder sends ``rounds`` max-size presence updates, all at once."""
    for round_ in range(rounds):
        await asyncio.gather(*(peer.send({"type": "presence.update", "state": max_size_state(i, round_)})
                               for i, peer in enumerate(flooders)))


def latest_states(flooders: list[WsPeer], rounds: int) -> dict[str, dict[str, object]]:
    """What a peer that saw the whole burst of ``send_presence_burst`` holds of the flooders."""
    return {peer.self_id: max_size_state(i, rounds - 1) for i, peer in enumerate(flooders)}
