"""Presence, cursors and gestures over the stream's WebSocket — ephemeral, never durable.

Connects to ``/v1/streams/{stream_id}/ws?ticket=<presence ticket>`` (a fresh ticket per connect),
keeps ``peers`` (``presence.snapshot`` / ``join`` / ``leave`` / ``update``) and the others' latest
``cursors``, throttles cursor moves to ``cursor_hz`` (latest position wins) and sends an
application ``ping`` every ``ping_interval``. ``messages()`` yields server frames and reconnects
with backoff, re-sending the last presence state; a socket is replaced by a fresh one shortly before
its ticket expires, so the peer never drops out of the room. Cursor and gesture sends while disconnected are
dropped: they are ephemeral."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

from atoms_core.client.backoff import Backoff
from atoms_core.client.errors import ProblemError
from atoms_core.client.session import Session
from atoms_core.protocol.codes import reconnects_after

#: A socket is replaced this long before its ticket expires (or at half its life if that is shorter).
RENEW_AHEAD_S = 5.0


class Presence:
    def __init__(self, session: Session, stream_id: str, *, cursor_hz: float = 30.0,
                 ping_interval: float = 15.0, backoff: Backoff | None = None) -> None:
        self.session = session
        self.stream_id = stream_id
        self.cursor_interval = 1.0 / cursor_hz
        self.ping_interval = ping_interval
        #: peer_id -> ``{peer_id, principal_id, state}`` as the server last described it.
        self.peers: dict[str, dict[str, Any]] = {}
        #: peer_id -> latest ``(x, y)`` from ``cursor`` / ``cursors`` frames.
        self.cursors: dict[str, tuple[float, float]] = {}
        #: This connection's peer id (from ``presence.snapshot``).
        self.self_id: str | None = None
        self._backoff = backoff or Backoff()
        self._ws: ClientConnection | None = None
        self._state: dict[str, Any] | None = None
        self._cursor_at = 0.0
        self._cursor_pending: tuple[float, float] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def ws_url(self, ticket: str) -> str:
        base = self.session.stream_url(self.stream_id, "ws")
        return "ws" + base.removeprefix("http") + f"?ticket={ticket}"

    async def connect(self) -> None:
        """Open the socket (raises ``ProblemError`` if the ticket is refused, ``OSError`` if unreachable)."""
        ticket, lifetime = await self.session.ticket_expiring(self.stream_id, ["presence"])
        try:
            ws = await connect(self.ws_url(ticket), open_timeout=10)
        except websockets.InvalidStatus as exc:
            response = exc.response
            code = "http_" + str(response.status_code)
            with contextlib.suppress(ValueError):
                code = json.loads(response.body or b"{}").get("code", code)
            raise ProblemError(response.status_code, code, "WebSocket handshake refused") from None
        self._ws = ws
        self._backoff.reset()
        self._spawn(self._keepalive(ws))
        self._spawn(self._renew(ws, lifetime))
        if self._state is not None:
            await self._send({"type": "presence.update", "state": self._state})

    async def update(self, state: dict[str, Any]) -> None:
        """Set this peer's presence state (kept and re-sent after a reconnect)."""
        self._state = state
        await self._send({"type": "presence.update", "state": state})

    async def cursor(self, x: float, y: float) -> None:
        """Move the cursor; at most ``cursor_hz`` sends per second, the latest position wins."""
        wait = self._cursor_at + self.cursor_interval - time.monotonic()
        if wait <= 0:
            self._cursor_at = time.monotonic()
            await self._send({"type": "cursor", "x": x, "y": y})
            return
        if self._cursor_pending is None:
            self._spawn(self._cursor_later(wait))
        self._cursor_pending = (x, y)

    async def gesture(self, kind: str, data: dict[str, Any] | None = None) -> None:
        await self._send({"type": "gesture", "kind": kind, "data": data or {}})

    async def ping(self) -> None:
        await self._send({"type": "ping", "ts": time.time() * 1000})

    async def messages(self) -> AsyncGenerator[dict[str, Any], None]:
        """Server frames, with ``peers`` updated before each is yielded; reconnects until ``close()``."""
        while not self._closed:
            ws = self._ws
            if ws is None:
                try:
                    await self.connect()
                except (OSError, TimeoutError, httpx.TransportError, websockets.InvalidHandshake):
                    await asyncio.sleep(self._backoff.next())
                    continue
                except ProblemError as err:
                    if not err.retryable:
                        raise
                    await asyncio.sleep(max(self._backoff.next(), err.retry_after or 0.0))
                continue
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    self._track(message)
                    yield message
            except websockets.ConnectionClosed:
                pass
            self._drop(ws)
            if not reconnects_after(ws.close_code):  # the same table as atoms-ui's presence client
                raise ProblemError(0, "ws_closed", f"closed with {ws.close_code}: {ws.close_reason}")

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def __aenter__(self) -> Presence:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # --- internals ---------------------------------------------------------------------------

    def _track(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "presence.snapshot":
            self.self_id = message.get("self")
            self.peers = {p["peer_id"]: p for p in message.get("peers", [])}
        elif kind == "presence.join":
            peer = message["peer"]
            self.peers[peer["peer_id"]] = peer
        elif kind == "presence.leave":
            self.peers.pop(message["peer_id"], None)
            self.cursors.pop(message["peer_id"], None)
        elif kind in ("cursor", "cursors"):
            for cursor in message.get("cursors", [message]):
                self.cursors[cursor["peer_id"]] = (cursor["x"], cursor["y"])
        elif kind == "presence.update" and message.get("peer_id") in self.peers:
            self.peers[message["peer_id"]]["state"] = message.get("state", {})

    def _drop(self, ws: ClientConnection) -> None:
        if self._ws is ws:
            self._ws = None
            self.peers = {}
            self.cursors = {}

    async def _send(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.send(json.dumps(message, separators=(",", ":")))
        except websockets.ConnectionClosed:
            self._drop(ws)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cursor_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        pending, self._cursor_pending = self._cursor_pending, None
        if pending is not None:
            self._cursor_at = time.monotonic()
            await self._send({"type": "cursor", "x": pending[0], "y": pending[1]})

    async def _renew(self, ws: ClientConnection, lifetime: float) -> None:
        """Before the server closes this socket at its ticket's expiry (4001), open the next one and
        only then close this: the others see this peer join again before it leaves, never a gap."""
        await asyncio.sleep(max(lifetime - RENEW_AHEAD_S, lifetime / 2))
        if self._ws is not ws or self._closed:
            return
        try:
            await self.connect()
        except (ProblemError, OSError, TimeoutError, httpx.TransportError, websockets.InvalidHandshake):
            return  # this socket ends at expiry and messages() reconnects with backoff
        await ws.close()

    async def _keepalive(self, ws: ClientConnection) -> None:
        while self._ws is ws:
            await asyncio.sleep(self.ping_interval)
            await self.ping()
