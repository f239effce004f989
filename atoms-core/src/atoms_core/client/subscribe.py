"""Following a stream over SSE: resume by last seq, backoff, heartbeat watchdog, gap detection.

A ``Subscription`` keeps a ``StateView`` and yields each durable ``EventEnvelope`` once, in seq
order, just after applying it (so ``sub.view`` is the state *at* that event). Every connect uses
a fresh ``read`` ticket and sends ``Last-Event-ID: <last applied seq>``; the server replays the
rest or answers ``resync`` + ``state_snapshot``. A connection is dropped and resumed when no byte
arrives within ``heartbeat_timeout`` (the server pings every 15 s) or when a seq is skipped; a stream
the server ends (its ticket expired) is resumed at once with a fresh ticket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import httpx
from pydantic import ValidationError

from atoms_core.client.backoff import Backoff
from atoms_core.client.errors import DivergedError, GapError, ProblemError, ProtocolError
from atoms_core.client.session import Session
from atoms_core.client.sse import SseEvent, SseParser
from atoms_core.client.view import StateView
from atoms_core.protocol.wire import EventEnvelope

DEFAULT_HEARTBEAT_TIMEOUT = 35.0
#: A stream the server ends after at least this long (a ticket's expiry) is resumed without delay.
MIN_LIVED_S = 1.0


@dataclass(frozen=True, slots=True)
class Control:
    """A non-durable happening: ``hello``, ``state_snapshot``, ``resync`` or ``disconnected``."""

    kind: Literal["hello", "state_snapshot", "resync", "disconnected"]
    data: dict[str, Any] = field(default_factory=dict)


Item = EventEnvelope | Control


class Subscription:
    def __init__(self, session: Session, stream_id: str, heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
                 backoff: Backoff | None = None) -> None:
        self.session = session
        self.stream_id = stream_id
        self.heartbeat_timeout = heartbeat_timeout
        self.view = StateView()
        #: The head seq the server announced in its last ``hello``.
        self.head_seq: int | None = None
        self._backoff = backoff or Backoff()
        self._need_snapshot = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._generators: list[AsyncGenerator[Any, None]] = []

    # --- iteration -------------------------------------------------------------------------

    def __aiter__(self) -> AsyncGenerator[EventEnvelope, None]:
        """Durable events only."""
        return self._track(self._run(controls=False))

    def items(self) -> AsyncGenerator[Item, None]:
        """Durable events and ``Control`` items (connection and snapshot happenings)."""
        return self._track(self._run(controls=True))

    def _track(self, gen: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
        self._generators.append(gen)
        return gen

    async def aclose(self) -> None:
        for gen in self._generators:
            await gen.aclose()
        self._generators.clear()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def wait_for_seq(self, seq: int) -> None:
        """Return once the event at ``seq`` (or later) has been applied; the view is read by iterating."""
        if self.view.seq >= seq:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        await future

    def _release(self) -> None:
        ready = [(s, f) for s, f in self._waiters if s <= self.view.seq]
        if ready:
            self._waiters = [(s, f) for s, f in self._waiters if s > self.view.seq]
            for _, future in ready:
                if not future.done():
                    future.set_result(None)

    # --- connection loop ---------------------------------------------------------------------

    async def _run(self, controls: bool) -> AsyncGenerator[Any, None]:
        unauthorized = 0
        while True:
            delay_floor, at_once = 0.0, False
            opened = asyncio.get_running_loop().time()
            try:
                async for item in self._connect():
                    unauthorized = 0
                    if controls or isinstance(item, EventEnvelope):
                        yield item
                reason = "the server ended the stream"
                # As it does when the ticket expires: resume at once with a fresh one (unless it
                # ended a stream just opened, which backs off as usual).
                at_once = asyncio.get_running_loop().time() - opened >= MIN_LIVED_S
            except ProblemError as err:
                # A 401 may be a stale token: ask getToken once more, then give up.
                unauthorized = unauthorized + 1 if err.status == 401 else 0
                if not (err.retryable or unauthorized == 1):
                    raise
                reason, delay_floor = str(err), err.retry_after or 0.0
            except httpx.TimeoutException:
                reason = f"no data for {self.heartbeat_timeout:g} s (heartbeat lost)"
            except httpx.TransportError as exc:
                reason = f"network: {type(exc).__name__}: {exc}"
            except GapError as exc:
                reason = str(exc)
            except DivergedError as exc:
                self._need_snapshot = True
                reason = str(exc)
            if controls:
                yield Control("disconnected", {"reason": reason, "seq": self.view.seq})
            await asyncio.sleep(0.0 if at_once else max(self._backoff.next(), delay_floor))

    async def _connect(self) -> AsyncGenerator[Item, None]:
        ticket = await self.session.ticket(self.stream_id, ["read"])
        headers = {"Accept": "text/event-stream"}
        if self.view.has_state and not self._need_snapshot:
            headers["Last-Event-ID"] = str(self.view.seq)
        timeout = httpx.Timeout(10.0, read=self.heartbeat_timeout)
        url = self.session.stream_url(self.stream_id, "events")
        async with self.session.http.stream("GET", url, params={"ticket": ticket}, headers=headers,
                                            timeout=timeout) as response:
            if response.status_code != 200:
                await response.aread()
                raise ProblemError.from_response(response)
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                raise ProtocolError(f"{url}: not an event stream ({response.headers.get('content-type')})")
            self._backoff.reset()
            parser = SseParser()
            async for chunk in response.aiter_bytes():
                for event in parser.feed(chunk):
                    item = self._on_event(event)
                    if item is not None:
                        yield item
                if parser.retry_ms is not None:
                    self._backoff.hint(parser.retry_ms / 1000)

    def _on_event(self, event: SseEvent) -> Item | None:
        try:
            data = json.loads(event.data)
        except ValueError:
            raise ProtocolError(f"{event.type} frame is not JSON: {event.data[:80]!r}") from None
        if event.type == "hello":
            self.head_seq = int(data["head_seq"])
            return Control("hello", data)
        if event.type == "state_snapshot":
            self.view.reset(data["state"], int(data["seq"]), int(data["version"]))
            self._need_snapshot = False
            self._release()
            return Control("state_snapshot", data)
        if event.type == "resync":
            self.view.begin_resync()
            return Control("resync", data)
        try:
            envelope = EventEnvelope.model_validate(data)
        except ValidationError as exc:
            raise ProtocolError(f"unreadable {event.type} event: {exc.errors()[0]['msg']}") from None
        if not self.view.apply(envelope):
            return None
        self._release()
        return envelope
