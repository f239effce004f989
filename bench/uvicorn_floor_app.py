"""The least an ASGI app on uvicorn can do in the many-streams scenario: the ``raw`` target's behaviour
(SSE subscribe; a POST writes its body as one frame to the stream's subscribers, then answers 204)
with no routing framework, no auth, no validation and no persistence. Not part of atoms-core."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
subscribers: dict[str, list[Send]] = {}
seqs: dict[str, int] = {}


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    stream = scope["path"].split("/")[3]  # /v1/streams/<stream>/(events|commands)
    if scope["method"] == "GET":
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        await send({"type": "http.response.body", "body": b"event: hello\ndata: {}\n\n", "more_body": True})
        subscribers.setdefault(stream, []).append(send)
        while (await receive())["type"] != "http.disconnect":
            pass
        subscribers[stream].remove(send)
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    seq = seqs[stream] = seqs.get(stream, 0) + 1
    frame = b"id: %d\nevent: message\ndata: %s\n\n" % (seq, body)
    for subscriber in subscribers.get(stream, ()):
        await subscriber({"type": "http.response.body", "body": frame, "more_body": True})
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
