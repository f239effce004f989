"""Reading a JSON request body with a size cap (413 before the whole body is buffered)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.types import Receive, Scope

from atoms_core.protocol.errors import BadRequest, PayloadTooLarge, Unprocessable

#: Strict RFC 8259 (no NaN, no lone surrogates, which could not be re-encoded), and fast.
_decode = msgspec.json.Decoder().decode


async def read_json(scope: Scope, receive: Receive, limit: int) -> Any:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise PayloadTooLarge("body_too_large", f"body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("bad_request", "the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("body_too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    try:
        return _decode(b"".join(chunks))
    except msgspec.DecodeError:
        raise BadRequest("invalid_json", "the body is not valid JSON") from None
    except RecursionError:  # the parser's own nesting limit, far below the body size cap
        raise Unprocessable("sidecar_too_deep", "the body is nested too deeply to parse") from None
