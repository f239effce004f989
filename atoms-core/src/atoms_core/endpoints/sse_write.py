"""Writing an SSE body part that may be large (a snapshot, a replay page) a slice at a time.

The server copies each body part it is given into the connection's transport (uvicorn adds the chunk
framing); a client that does not read leaves that copy in the write buffer for as long as it stays
connected. Given at most a ``SLICE`` per ``send``, and ``send`` waiting while the transport is over its
high-water mark (ASGI flow control), such a client holds about one slice, not the whole part.
"""

from __future__ import annotations

from starlette.types import Send

from atoms_core.engine.hub import SLICE


async def write(send: Send, data: bytes, head: bytes = b"") -> None:
    """Send ``head`` then ``data`` as body parts of at most ``SLICE`` bytes: one part when both fit (no
    copy of ``data`` when there is no ``head``)."""
    if len(head) + len(data) <= SLICE:
        await send({"type": "http.response.body", "body": head + data if head else data, "more_body": True})
        return
    if head:
        await write(send, head)
    for start in range(0, len(data), SLICE):
        await send({"type": "http.response.body", "body": data[start:start + SLICE], "more_body": True})
