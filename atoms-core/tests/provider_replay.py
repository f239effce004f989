"""A local HTTP server that replays recorded provider event streams to the official SDKs.

``POST /v1/chat/completions``, ``POST /v1/responses`` and ``POST /v1/messages`` answer with the file
``<root>/<openai_chat|openai_responses|anthropic>/<model>.sse`` (the request's ``model`` names the
recording), byte for byte as ``text/event-stream`` over chunked HTTP/1.1, one SSE event per chunk,
``delay`` seconds apart. A recording named ``drop`` (or ``*_drop``) ends by aborting the TCP
connection with no terminating chunk: a dropped stream; one named ``*_stall`` keeps the connection open
after its last event until the client goes away (a model still thinking when its agent is killed).
``turns`` names, per model, the recordings its first, second, … request is answered with (a model
asked again answering differently); the last one answers every later request. Every request is kept
in ``requests``. The recordings are hand-written, see ``client/provider_streams/README.md``.
It runs on its own thread and event loop, so agents in other processes can use it too.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROUTES = {"/v1/chat/completions": "openai_chat", "/v1/responses": "openai_responses",
          "/v1/messages": "anthropic"}
MODEL = re.compile(r"[a-z0-9_-]{1,64}")
STREAMS = Path(__file__).resolve().parent / "client" / "provider_streams"


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ReplayServer:
    def __init__(self, root: Path = STREAMS, delay: float = 0.0, turns: dict[str, list[str]] | None = None) -> None:
        self.root = root
        self.delay = delay
        self.turns = turns or {}
        self.requests: list[Request] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="provider replay")
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, path, _ = head.split("\r\n", 1)[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in head.strip().split("\r\n")[1:])
            headers = {name.lower(): value for name, value in headers.items()}
            length = int(headers.get("content-length", "0"))
            body = json.loads(await reader.readexactly(length)) if length else {}
            self.requests.append(Request(path, headers, body))
            kind = ROUTES.get(path.split("?", 1)[0])
            model = self._recording(str(body.get("model", "")))
            recording = self.root / str(kind) / f"{model}.sse"
            if method != "POST" or kind is None or MODEL.fullmatch(model) is None or not recording.is_file():
                payload = json.dumps({"error": {"type": "not_found", "message": f"no recording {kind}/{model}"}})
                writer.write(f"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: "
                             f"{len(payload)}\r\nConnection: close\r\n\r\n{payload}".encode())
                await writer.drain()
                return
            await self._replay(writer, recording)
            if model == "drop" or model.endswith("_drop"):
                writer.transport.abort()
            elif model.endswith("_stall"):
                await reader.read()  # no end: until the client closes or is killed
            else:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _recording(self, model: str) -> str:
        """The recording answering this request for ``model`` (its turn in ``turns``, else itself)."""
        answers = self.turns.get(model)
        if not answers:
            return model
        asked = sum(1 for r in self.requests if r.body.get("model") == model)
        return answers[min(asked, len(answers)) - 1]

    async def _replay(self, writer: asyncio.StreamWriter, recording: Path) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                     b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for event in recording.read_bytes().split(b"\n\n"):
            if not event.strip():
                continue
            chunk = event + b"\n\n"
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            if self.delay:
                await asyncio.sleep(self.delay)
