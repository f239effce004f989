"""One HTTP request to a service the operator configured (the app's authorization callback, an identity
provider's JWKS), bounded as a whole in time and in the bytes of its answer, on the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


class AnswerTooLarge(Exception):
    """The answer went past the byte limit: refused, not buffered further."""


async def read_bounded(client: httpx.AsyncClient, method: str, url: str, limit: int, timeout_s: float,
                       **request: Any) -> tuple[int, bytes]:
    """The status and body of one request, within ``timeout_s`` in all (a slow drip of bytes is cut off too)
    and ``limit`` bytes; raises ``AnswerTooLarge``, ``TimeoutError`` or ``httpx.HTTPError``."""
    raw = bytearray()
    async with asyncio.timeout(timeout_s), client.stream(method, url, **request) as response:
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) > limit:
                raise AnswerTooLarge(f"the answer is larger than {limit} bytes")
    return response.status_code, bytes(raw)
