"""Wire contracts (contract §5, §8, §9): commands, media values, WS messages, problem details (the SSE
messages, EventEnvelope among them, are in ``wire.py``; the stable codes in ``codes.py``).

These pydantic models are the source of the JSON Schemas in ``docs/schemas/`` (``make schemas``),
from which the TypeScript types are generated.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from atoms_core.protocol.codes import WsErrorCode
from atoms_core.protocol.ids import ARTIFACT_ID_PATTERN, STREAM_ID_PATTERN, anchored

StreamId = Annotated[str, Field(pattern=anchored(STREAM_ID_PATTERN))]
CommandId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]


class EventType(StrEnum):
    STATE_PATCH = "state_patch"
    TOKEN_PATCH = "token_patch"
    SNAPSHOT_CREATED = "snapshot_created"
    LOG = "log"
    HELLO = "hello"
    STATE_SNAPSHOT = "state_snapshot"
    RESYNC = "resync"


class CommandType(StrEnum):
    STATE_PATCH = "state.patch"
    CHAT_POST = "chat.post"
    TOKEN_APPEND = "token.append"
    LOG_APPEND = "log.append"
    SNAPSHOT_CREATE = "snapshot.create"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Sent(BaseModel):
    """A server-to-client message: its schema lists every field as present (defaults are sent)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class CommandEnvelope(_Strict):
    """Client → server over ``POST /v1/streams/{stream_id}/commands``."""

    command_id: CommandId
    type: CommandType
    stream_id: StreamId
    base_version: int | None = Field(default=None, ge=0)
    payload: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] | None = None


class PatchOp(BaseModel):
    model_config = ConfigDict(extra="allow")

    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: Any = None
    from_: str | None = Field(default=None, alias="from")


class StatePatchPayload(_Strict):
    ops: list[PatchOp] = Field(min_length=1)


class ChatPostPayload(_Strict):
    message_id: CommandId | None = None
    role: Literal["user", "assistant", "system", "agent"]
    text: str = Field(max_length=65536)


class TokenAppendPayload(_Strict):
    target: str = Field(pattern=r"^(/([^~/]|~[01])*)+$")
    delta: str = Field(max_length=65536)
    index: int = Field(ge=0)
    final: bool = False


class LogAppendPayload(_Strict):
    level: Literal["debug", "info", "warning", "error"]
    message: str = Field(max_length=8192)
    fields: dict[str, Any] | None = None


class SnapshotCreatePayload(_Strict):
    pass


class CommandResult(_Sent):
    command_id: str
    seq: int
    version: int
    event_ids: list[str]
    duplicate: bool = False


class BatchResult(_Sent):
    results: list[CommandResult]
    seq: int
    version: int


class DatasetEvent(_Sent):
    """One audit record per accepted/refused command, ticket, connection and WS violation."""

    id: str
    ts: str
    tenant: str
    stream: str | None = None
    kind: str
    actor: str | None = None
    command_id: str | None = None
    seq: int | None = None
    reason: str | None = None
    payload_digest: str | None = None


class MediaRef(_Strict):
    artifact_id: str | None = Field(default=None, pattern=anchored(ARTIFACT_ID_PATTERN))
    uri: str | None = None
    object_id: str | None = None


class MediaValue(BaseModel):
    """A sidecar value: media travels by reference only."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["image", "video", "audio"]
    ref: MediaRef
    mime: str
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None


Scope = Literal["read", "write", "presence"]


class TicketRequest(_Strict):
    stream_id: str | None = None
    thread_id: str | None = None
    canvas_id: str | None = None
    run_id: str | None = None
    scopes: list[Scope] = Field(default_factory=lambda: list[Scope](["read"]), min_length=1)
    ttl_s: int | None = Field(default=None, ge=1)


class RevocationRequest(_Strict):
    principal_id: str = Field(min_length=1, max_length=256)
    #: Only the token or ticket with this ``jti``; absent: everything the principal holds.
    jti: str | None = Field(default=None, min_length=1, max_length=256)


class RevocationResponse(_Sent):
    tenant_id: str
    principal_id: str
    jti: str | None
    revoked_at: float


class TicketResponse(_Sent):
    ticket: str
    stream_id: str
    scopes: list[str]
    expires_at: str
    expires_in: int


class Problem(BaseModel):
    """RFC 9457 problem details with a stable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str


# --- WebSocket (ephemeral) -------------------------------------------------------------------


class WsPresenceUpdate(_Strict):
    type: Literal["presence.update"]
    state: dict[str, Any]


class WsCursor(_Strict):
    type: Literal["cursor"]
    x: float = Field(allow_inf_nan=False)
    y: float = Field(allow_inf_nan=False)


class WsGesture(_Strict):
    type: Literal["gesture"]
    kind: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)


class WsPing(_Strict):
    type: Literal["ping"]
    ts: float | None = Field(default=None, allow_inf_nan=False)


WsClientMessage = Annotated[WsPresenceUpdate | WsCursor | WsGesture | WsPing, Field(discriminator="type")]


class Peer(_Sent):
    peer_id: str
    principal_id: str
    state: dict[str, Any]


class WsPresenceSnapshot(_Sent):
    type: Literal["presence.snapshot"] = "presence.snapshot"
    self: str
    peers: list[Peer]


class WsPresenceJoin(_Sent):
    type: Literal["presence.join"] = "presence.join"
    peer: Peer


class WsPresenceLeave(_Sent):
    type: Literal["presence.leave"] = "presence.leave"
    peer_id: str


class WsPeerUpdate(_Sent):
    type: Literal["presence.update"] = "presence.update"
    peer_id: str
    state: dict[str, Any]


class WsCursorPosition(_Sent):
    peer_id: str
    x: float
    y: float


class WsPeerCursors(_Sent):
    """The latest cursor of every other peer that moved since the previous flush; one frame per
    flush (at most ``ws_cursor_hz`` a second), so a cursor storm costs O(peers) per flush."""

    type: Literal["cursors"] = "cursors"
    cursors: list[WsCursorPosition]


class WsPeerGesture(_Sent):
    type: Literal["gesture"] = "gesture"
    peer_id: str
    kind: str
    data: dict[str, Any]


class WsPong(_Sent):
    type: Literal["pong"] = "pong"
    ts: float | None = None
    server_ts: float


class WsError(_Sent):
    type: Literal["error"] = "error"
    code: WsErrorCode
    detail: str


#: Models exported as JSON Schema by ``make schemas``.
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "CommandEnvelope": CommandEnvelope,
    "CommandResult": CommandResult,
    "BatchResult": BatchResult,
    "DatasetEvent": DatasetEvent,
    "MediaValue": MediaValue,
    "TicketRequest": TicketRequest,
    "TicketResponse": TicketResponse,
    "Problem": Problem,
    "StatePatchPayload": StatePatchPayload,
    "ChatPostPayload": ChatPostPayload,
    "TokenAppendPayload": TokenAppendPayload,
    "LogAppendPayload": LogAppendPayload,
    "WsPresenceUpdate": WsPresenceUpdate,
    "WsCursor": WsCursor,
    "WsGesture": WsGesture,
    "WsPing": WsPing,
    "WsPresenceSnapshot": WsPresenceSnapshot,
    "WsPresenceJoin": WsPresenceJoin,
    "WsPresenceLeave": WsPresenceLeave,
    "WsPeerUpdate": WsPeerUpdate,
    "WsPeerCursors": WsPeerCursors,
    "WsPeerGesture": WsPeerGesture,
    "WsPong": WsPong,
    "WsError": WsError,
}
