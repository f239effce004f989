"""Reading a JSON request body with a size cap (413 before the whole body is buffered)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from atoms_core.errors import BadRequest, PayloadTooLarge, Unprocessable


async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge("body_too_large", f"body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("body_too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("invalid_json", "the body is not valid JSON") from None
    except RecursionError:  # the parser's own nesting limit, far below the body size cap
        raise Unprocessable("sidecar_too_deep", "the body is nested too deeply to parse") from None
