"""The least an ASGI app on uvicorn can do in the many-streams scenario: the ``raw`` target's behaviour
(SSE subscribe; a POST writes its body as one frame to the stream's subscribers, then answers 204)
with no routing framework, no auth, no validation and no persistence. Not part of atoms-core.

With ``FLOOR_STORE=<dir>`` each POST is first committed by atoms-core's own ``SqliteStore`` (one event
and one idempotency row, the transaction a one-command group commit makes) before its frame goes
out: the floor plus the durable write, so the cost of durability alone can be read off one run."""

from __future__ import annotations

import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
subscribers: dict[str, list[Send]] = {}
seqs: dict[str, int] = {}
STORE_DIR = os.environ.get("FLOOR_STORE")
store: Any = None
if STORE_DIR:  # the bare floor imports nothing of atoms-core
    from atoms_core.protocol.timeline import Partition, StoredEvent
    from atoms_core.stores.sqlite import SqliteStore


async def _open_store() -> None:
    global store
    if STORE_DIR:
        store = SqliteStore(Path(STORE_DIR) / "timeline.db", allow_empty=True)
        await store.open()


async def _commit(stream: str, seq: int, body: bytes) -> None:
    # 32 random hex digits, like the bench client's ids (they land all over the idempotency index), drawn
    # from the process's own generator: a uuid4 would add a getrandom syscall the real server never makes.
    command_id = f"{random.getrandbits(128):032x}"
    result = f'{{"command_id":"{command_id}","seq":{seq},"version":{seq},"event_ids":["{seq}"],"duplicate":false}}'
    await store.append(Partition("floor", stream), seq - 1, [StoredEvent(seq, "message", body.decode())],
                       {command_id: result})


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await _open_store()
            await send({"type": "lifespan.startup.complete"})
        if store is not None:
            await store.close()
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
    if store is not None:
        await _commit(stream, seq, body)
    frame = b"id: %d\nevent: message\ndata: %s\n\n" % (seq, body)
    for subscriber in subscribers.get(stream, ()):
        await subscriber({"type": "http.response.body", "body": frame, "more_body": True})
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
