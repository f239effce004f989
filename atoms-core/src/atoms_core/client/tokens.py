"""``TokenStreamer``: many small text deltas into one string as few ``token.append`` requests.

Deltas are buffered and flushed ~every ``interval`` seconds, or at once when ``max_chars`` are
waiting. One request is in flight at a time, so chunks land in ``index`` order; a flush sends the
buffer as a batch (a JSON array of CommandEnvelopes) of chunks of at most ``max_chars``, numbered
with consecutive ``index`` values. ``close()`` marks the last chunk ``final`` (an empty final chunk
if nothing is left). Chunk command ids are derived from the streamer id and the index, so a retried
batch is recognised by the server and never appends twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from types import TracebackType
from typing import Any

from atoms_core.client import commands
from atoms_core.client.session import Session

DEFAULT_INTERVAL = 0.02
DEFAULT_MAX_CHARS = 2048
#: Chunks per request; with ``max_chars`` this bounds a body well below the server's 1 MiB limit.
DEFAULT_MAX_BATCH = 32


class TokenStreamer:
    def __init__(self, session: Session, stream_id: str, target: str, *, start_index: int = 0,
                 interval: float = DEFAULT_INTERVAL, max_chars: int = DEFAULT_MAX_CHARS,
                 max_batch: int = DEFAULT_MAX_BATCH, retries: int = 8,
                 streamer_id: str | None = None) -> None:
        self.session = session
        self.stream_id = stream_id
        self.target = target
        self.interval = interval
        self.max_chars = max_chars
        self.max_batch = max_batch
        self.retries = retries
        self.streamer_id = streamer_id or f"tok-{uuid.uuid4().hex}"
        #: The next chunk's ``index``.
        self.index = start_index
        #: HTTP requests sent so far (one per batch; retries not counted).
        self.requests = 0
        self._buffer: list[str] = []
        self._buffered = 0
        self._written = 0
        self._sent = 0
        self._closing = False
        self._final_sent = False
        self._error: BaseException | None = None
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- public --------------------------------------------------------------------------

    def write(self, delta: str) -> None:
        """Queue ``delta`` (never blocks). Raises the error that stopped the streamer, if any."""
        self._check()
        if self._closing:
            raise RuntimeError("write() after close()")
        if not delta:
            return
        self._buffer.append(delta)
        self._buffered += len(delta)
        self._written += len(delta)
        self._start()
        self._wake.set()
        if self._buffered >= self.max_chars:
            self._urgent.set()

    async def flush(self) -> None:
        """Return once everything written so far is committed."""
        target = self._written
        if self._buffered:
            self._start()
            self._urgent.set()
            self._wake.set()
        while self._sent < target and self._error is None:
            self._progress.clear()
            await self._progress.wait()
        self._check()

    async def close(self) -> None:
        """Send what is left with the ``final`` marker and wait for it to commit."""
        self._closing = True
        self._start()
        self._urgent.set()
        self._wake.set()
        assert self._task is not None
        await asyncio.shield(self._task)
        self._check()

    async def abort(self) -> None:
        """Stop without the final marker (what is buffered is dropped)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def __aenter__(self) -> TokenStreamer:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if exc is None:
            await self.close()
        else:
            await self.abort()

    # --- the flusher -----------------------------------------------------------------------

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while not self._final_sent:
                await self._wake.wait()
                if not self._urgent.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._urgent.wait(), self.interval)
                batch = self._take()
                if not self._buffer and not (self._closing and not self._final_sent):
                    self._wake.clear()
                    self._urgent.clear()
                if batch:
                    await self._send(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._error = exc
        finally:
            self._progress.set()

    def _take(self) -> list[dict[str, Any]]:
        """Up to ``max_batch`` chunks off the buffer, numbered; the last is final when closing."""
        text = "".join(self._buffer)
        size = self.max_chars
        pieces = [text[i:i + size] for i in range(0, min(len(text), size * self.max_batch), size)]
        rest = text[size * len(pieces):]
        self._buffer = [rest] if rest else []
        self._buffered = len(rest)
        final = self._closing and not rest
        if final and not pieces:
            pieces = [""]
        batch = []
        for i, delta in enumerate(pieces):
            payload = {"target": self.target, "delta": delta, "index": self.index,
                       "final": final and i == len(pieces) - 1}
            batch.append(commands.envelope(self.stream_id, "token.append", payload,
                                           f"{self.streamer_id}.{self.index}"))
            self.index += 1
        return batch

    async def _send(self, batch: list[dict[str, Any]]) -> None:
        self.requests += 1
        await commands.post(self.session, self.stream_id, batch, self.retries)
        self._sent += sum(len(env["payload"]["delta"]) for env in batch)
        self._final_sent = batch[-1]["payload"]["final"]
        self._progress.set()
