"""Every server→client message of the SSE stream (contract §5, §6), modelled and encoded in one place.

The models describe the wire for ``docs/schemas`` (and so for atoms-ui's generated types); the
functions below write it. They build plain dicts and encode them with ``dumps`` rather than going
through the models: an envelope is written once per committed event, on the command hot path, and
validating it there would cost more than the encoding. Tests read the output back as the models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from atoms_core.protocol.codes import ResyncReason
from atoms_core.protocol.contracts import EventType, StreamId
from atoms_core.protocol.encoding import dumps
from atoms_core.protocol.state import StreamState
from atoms_core.protocol.timeline import StoredEvent


class _Sent(BaseModel):
    """A server-to-client message: its schema lists every field as present (defaults are sent)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class EventEnvelope(_Sent):
    """The timeline record; also the SSE ``data:`` of every durable event."""

    id: str
    seq: int
    stream_id: StreamId
    type: EventType
    version: int
    ts: str
    actor: str
    command_id: str
    data: dict[str, Any]


class Hello(_Sent):
    """First event of every SSE connection (no id): the stream's head when the connection opened."""

    stream_id: StreamId
    head_seq: int
    version: int


class StateSnapshot(_Sent):
    """The whole state as of ``seq`` (sent with ``id: <seq>``, so a reconnect resumes after it)."""

    stream_id: StreamId
    seq: int
    version: int
    state: dict[str, Any]


class Resync(_Sent):
    """History the client needs is gone; a fresh ``state_snapshot`` follows."""

    stream_id: StreamId
    reason: ResyncReason
    head_seq: int


#: The SSE messages, exported as JSON Schema by ``make schemas``.
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "EventEnvelope": EventEnvelope,
    "Hello": Hello,
    "StateSnapshot": StateSnapshot,
    "Resync": Resync,
}


def event_envelope(seq: int, stream_id: str, event_type: str, version: int, ts: str, actor: str,
                   command_id: str, data: Any) -> str:
    """A new event's ``EventEnvelope`` as one-line JSON: what is stored and sent as its ``data:``."""
    return dumps({"id": str(seq), "seq": seq, "stream_id": stream_id, "type": event_type, "version": version,
                  "ts": ts, "actor": actor, "command_id": command_id, "data": data})


def sse_frame(event: str, data: str, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\nevent: {event}\ndata: " if event_id is not None else f"event: {event}\ndata: "
    return (head + data + "\n\n").encode()


def retry_frame(retry_ms: int) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


PING_FRAME = b": ping\n\n"


def event_frames(events: Iterable[StoredEvent]) -> bytes:
    """Stored events as SSE frames (their bodies are already encoded envelopes)."""
    return b"".join(sse_frame(e.type, e.body, e.seq) for e in events)


def hello_frame(stream_id: str, state: StreamState) -> bytes:
    return sse_frame("hello", dumps({"stream_id": stream_id, "head_seq": state.seq, "version": state.version}))


def snapshot_frame(stream_id: str, state: StreamState) -> bytes:
    data = {"stream_id": stream_id, "seq": state.seq, "version": state.version, "state": state.doc}
    return sse_frame("state_snapshot", dumps(data), state.seq)


def resync_frame(stream_id: str, state: StreamState, reason: ResyncReason) -> bytes:
    """``resync`` alone: a fresh ``state_snapshot`` must follow."""
    return sse_frame("resync", dumps({"stream_id": stream_id, "reason": reason, "head_seq": state.seq}))


def resync_frames(stream_id: str, state: StreamState, reason: ResyncReason) -> bytes:
    """``resync`` then a fresh ``state_snapshot``, for a client whose history is gone."""
    return resync_frame(stream_id, state, reason) + snapshot_frame(stream_id, state)
