"""Open SSE streams and WebSockets for the credential-lifetime tests, and when the server ended them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from servers import AtomsServer


@dataclass
class Link:
    """One connection read in the background: ``ended_at`` (monotonic) once the server ended it."""

    task: asyncio.Task[None] | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    ended_at: float | None = None
    close_code: int | None = None
    close_reason: str = ""

    async def ended(self, timeout: float) -> float:
        """Seconds from now until the server ended the link (raises TimeoutError beyond ``timeout``)."""
        start = time.monotonic()
        assert self.task is not None
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        assert self.ended_at is not None
        return self.ended_at - start

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def open_sse(server: AtomsServer, stream: str, ticket: str | None = None, token: str | None = None) -> Link:
    link = Link()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"ticket": ticket} if ticket else {}

    async def run() -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as http, http.stream(
                "GET", f"{server.url}/v1/streams/{stream}/events", params=params, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            link.opened.set()
            async for _ in response.aiter_bytes():
                pass
        link.ended_at = time.monotonic()

    link.task = asyncio.create_task(run())
    opened = asyncio.ensure_future(link.opened.wait())
    await asyncio.wait([opened, link.task], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if link.task.done() and not link.opened.is_set():
        link.task.result()  # the refusal
    assert link.opened.is_set(), "the stream did not open within 10 s"
    return link


async def open_ws(server: AtomsServer, stream: str, ticket: str | None = None, token: str | None = None) -> Link:
    """A socket opened with ``?ticket=``, or with an identity token as a bearer header on the handshake."""
    link = Link()
    url = f"ws://127.0.0.1:{server.port}/v1/streams/{stream}/ws" + (f"?ticket={ticket}" if ticket else "")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    ws = await connect(url, additional_headers=headers, open_timeout=10)

    async def run() -> None:
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
        link.ended_at = time.monotonic()
        link.close_code, link.close_reason = ws.close_code, ws.close_reason or ""

    link.task = asyncio.create_task(run())
    link.opened.set()
    return link


def ticket(server: AtomsServer, token: str, stream: str, scopes: list[str], ttl_s: int | None = None) -> str:
    extra = {"ttl_s": ttl_s} if ttl_s else {}
    return server.ticket(stream, scopes, token=token, **extra)
