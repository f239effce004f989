"""Wire encoding, done once per event: compact one-line JSON and SSE frames (pure, bytes out)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode


def dumps(value: Any) -> str:
    """Compact JSON (msgspec: several times faster than the stdlib on the per-event hot path);
    never contains a raw newline, so it is always one SSE ``data:`` line."""
    return _encode(value).decode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sse_frame(event: str, data: str, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\nevent: {event}\ndata: " if event_id is not None else f"event: {event}\ndata: "
    return (head + data + "\n\n").encode()


def retry_frame(retry_ms: int) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


PING_FRAME = b": ping\n\n"
