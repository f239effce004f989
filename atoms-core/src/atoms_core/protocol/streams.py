"""The canonical stream key (contract §2): the only place a stream id is built or parsed."""

from __future__ import annotations

from atoms_core.protocol.errors import BadRequest
from atoms_core.protocol.ids import STREAM_ID_PART, STREAM_KINDS


def _check_id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not STREAM_ID_PART.fullmatch(value):
        raise BadRequest("invalid_stream_id", f"{kind}_id must match {STREAM_ID_PART.pattern}")
    return value


def stream_key(thread_id: str | None = None, canvas_id: str | None = None, run_id: str | None = None) -> str:
    """Return ``thread:<id>``, else ``canvas:<id>``, else ``run:<id>`` — the first one given."""
    for kind, value in (("thread", thread_id), ("canvas", canvas_id), ("run", run_id)):
        if value is not None:
            return f"{kind}:{_check_id(kind, value)}"
    raise BadRequest("invalid_stream_id", "one of thread_id, canvas_id or run_id is required")


def parse_stream_id(stream_id: str) -> str:
    """Validate a prefixed stream id (as found in URLs and tickets) and return it unchanged."""
    kind, sep, value = stream_id.partition(":")
    if not sep or kind not in STREAM_KINDS:
        raise BadRequest("invalid_stream_id", "stream_id must be thread:<id>, canvas:<id> or run:<id>")
    return stream_key(**{f"{kind}_id": value})
