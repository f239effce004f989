"""``GET /v1/streams/{stream_id}/ws``: the ephemeral WebSocket (contract §8) — presence, cursors,
gestures and ping, nothing else. Nothing received here is persisted or reaches the timeline.

Per connection this coroutine reads and applies the inbound policy while one writer task drains the
peer's outbox; a disconnect ends both, and a server-side close (violations, idle sweep, slow consumer)
is written by the writer after the frames queued before it.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json, to_json
from starlette.types import Receive, Scope, Send

from atoms_core.endpoints.context import Context
from atoms_core.endpoints.problems import refuse
from atoms_core.engine.lifetimes import EXPIRED, REVOKED
from atoms_core.engine.presence import Peer, Presence
from atoms_core.identity.authorize import authorize_stream
from atoms_core.protocol.codes import CloseCode, WsErrorCode
from atoms_core.protocol.contracts import (
    WsClientMessage,
    WsCursor,
    WsError,
    WsGesture,
    WsPeerGesture,
    WsPong,
    WsPresenceUpdate,
)
from atoms_core.protocol.errors import AtomsError
from atoms_core.protocol.principal import Grant
from atoms_core.protocol.timeline import Partition

#: Why a lease ended -> the close code (a fresh ticket helps after expiry, not after a revocation).
CLOSE_LEASE = {EXPIRED: CloseCode.CREDENTIALS_EXPIRED, REVOKED: CloseCode.TOKEN_REVOKED}

EPHEMERAL_TYPES = frozenset({"presence.update", "cursor", "gesture", "ping"})
CLIENT_MESSAGE: TypeAdapter[WsClientMessage] = TypeAdapter(WsClientMessage)


class Refused(Exception):
    """A client frame that is dropped and answered with ``error {code, detail}``."""

    def __init__(self, code: WsErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail

    def frame(self) -> str:
        return WsError(code=self.code, detail=self.detail).model_dump_json()


def parse_frame(text: str) -> WsClientMessage:
    """One client text frame -> its message, or ``Refused`` (``bad_frame`` / ``ws_ephemeral_only``)."""
    try:
        raw = from_json(text, allow_inf_nan=False)
    except ValueError:
        raise Refused(WsErrorCode.BAD_FRAME, "a frame is one JSON object") from None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(kind, str):
        raise Refused(WsErrorCode.BAD_FRAME, 'a frame is a JSON object with a string "type"')
    if kind not in EPHEMERAL_TYPES:
        raise Refused(WsErrorCode.WS_EPHEMERAL_ONLY,
                      f"{kind[:64]!r} is refused: this socket carries only presence.update, cursor, gesture "
                      "and ping; durable changes go to POST /v1/streams/{stream_id}/commands")
    try:
        return CLIENT_MESSAGE.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        pointer = "".join(f"/{part}" for part in first["loc"][1:])  # loc[0] is the type tag
        raise Refused(WsErrorCode.BAD_FRAME, f"{kind} {pointer or '/'}: {first['msg']}") from None


class Session:
    """The inbound policy of one connection: parse, cap, apply to the room, count violations."""

    def __init__(self, ctx: Context, presence: Presence, peer: Peer, partition: Partition) -> None:
        self.ctx = ctx
        self.presence = presence
        self.peer = peer
        self.partition = partition
        self.violations = 0
        self.gesture_burst = max(ctx.settings.ws_gesture_per_s, 1.0)
        self.gesture_tokens = self.gesture_burst
        self.gesture_at = peer.last_seen
        self.gesture_notice_at = float("-inf")

    async def read(self, receive: Receive) -> None:
        """Apply frames until the client disconnects (or the close the server sent completes)."""
        loop = asyncio.get_running_loop()
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                if message.get("code") == CloseCode.TOO_BIG:
                    self.record(WsErrorCode.TOO_LARGE, None)
                return
            if self.peer.closed:
                continue  # closing: what is still in flight is dropped
            self.peer.last_seen = loop.time()
            text = message.get("text")
            try:
                if text is None:
                    raise Refused(WsErrorCode.BAD_FRAME, "binary frames are refused; send JSON text")
                self.apply(parse_frame(text))
            except Refused as refusal:
                self.refuse(refusal, text)

    def apply(self, message: WsClientMessage) -> None:
        peer = self.peer
        if isinstance(message, WsCursor):
            self.presence.cursor(peer, message.x, message.y)
        elif isinstance(message, WsPresenceUpdate):
            size, limit = len(to_json(message.state)), self.ctx.settings.ws_presence_max_bytes
            if size > limit:
                raise Refused(WsErrorCode.TOO_LARGE, f"presence state is {size} bytes; at most {limit}")
            self.presence.update(peer, message.state)
        elif isinstance(message, WsGesture):
            if self.gesture_allowed():
                gesture = WsPeerGesture(peer_id=peer.peer_id, kind=message.kind, data=message.data)
                self.presence.relay(peer, gesture.model_dump_json())
        else:
            peer.push(WsPong(ts=message.ts, server_ts=time.time() * 1000).model_dump_json())

    def gesture_allowed(self) -> bool:
        """Token bucket: ``ws_gesture_per_s``, one second of burst. Dropped gestures are answered with
        at most one ``error rate_limited`` a second; drops are not violations."""
        rate = self.ctx.settings.ws_gesture_per_s
        now = self.peer.last_seen
        self.gesture_tokens = min(self.gesture_burst, self.gesture_tokens + (now - self.gesture_at) * rate)
        self.gesture_at = now
        if self.gesture_tokens >= 1.0:
            self.gesture_tokens -= 1.0
            return True
        if now - self.gesture_notice_at >= 1.0:
            self.gesture_notice_at = now
            notice = Refused(WsErrorCode.RATE_LIMITED, f"at most {rate:g} gestures a second; extra ones are dropped")
            self.peer.push(notice.frame())
        return False

    def refuse(self, refusal: Refused, text: str | None) -> None:
        self.record(refusal.code, text)
        self.peer.push(refusal.frame())
        self.violations += 1
        if self.violations >= self.ctx.settings.ws_max_violations:
            self.peer.close(CloseCode.POLICY, "too many refused frames")

    def record(self, reason: str, text: str | None) -> None:
        self.ctx.metrics.ws_violations.inc()
        self.ctx.audit.record(self.partition.tenant_id, "ws.violation", self.partition.stream_id,
                              self.peer.principal_id, reason=reason, payload=text)


async def write(peer: Peer, send: Send) -> None:
    """Drain the outbox in order, one frame at a time (what is still queued can be coalesced meanwhile);
    after a requested close, send it and stop."""
    try:
        while True:
            await peer.wait()
            while (text := peer.take()) is not None:
                await send({"type": "websocket.send", "text": text})
            if peer.close_code is not None:
                await send({"type": "websocket.close", "code": peer.close_code, "reason": peer.close_reason})
                return
    except (OSError, RuntimeError):
        # OSError: the client went away mid-write. RuntimeError: uvicorn already closed the socket
        # itself (1009) and refuses further sends; the reader gets the disconnect either way.
        return


class WsEndpoint:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.presence = ctx.presence

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = self.ctx
        try:
            grant, partition = await authorize_stream(scope, ctx.verifier, "presence")
            ctx.ws_caps.acquire(grant.tenant_id, grant.principal_id)  # 429 as the handshake's answer
        except AtomsError as err:
            await refuse(err, scope, receive, send)
            return
        try:
            await self._serve(grant, partition, receive, send)
        finally:
            ctx.ws_caps.release(grant.tenant_id, grant.principal_id)

    async def _serve(self, grant: Grant, partition: Partition, receive: Receive, send: Send) -> None:
        ctx = self.ctx
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        peer = Peer(secrets.token_hex(8), grant.principal_id, ctx.settings.ws_queue_bytes,
                    asyncio.get_running_loop().time())
        if not self.presence.join(partition, peer):
            await send({"type": "websocket.close", "code": CloseCode.TRY_LATER, "reason": "room_full"})
            return
        ctx.metrics.ws_open.inc()
        ctx.audit.record(grant.tenant_id, "ws.opened", partition.stream_id, grant.principal_id)
        writer = asyncio.create_task(write(peer, send))
        lease = ctx.lifetimes.lease(grant.tenant_id, grant.principal_id, grant.expires_at,
                                    lambda reason: peer.close(CLOSE_LEASE[reason], reason),
                                    issued_at=grant.issued_at, jti=grant.jti)
        try:
            await Session(ctx, self.presence, peer, partition).read(receive)
        finally:
            ctx.lifetimes.release(lease)
            self.presence.leave(peer)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            ctx.metrics.ws_open.dec()
            ctx.audit.record(grant.tenant_id, "ws.closed", partition.stream_id, grant.principal_id,
                             reason=peer.close_reason or None)
