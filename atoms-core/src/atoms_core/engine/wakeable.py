"""A single parked coroutine woken by another step: the writer side of SSE subscribers and WS peers."""

from __future__ import annotations

import asyncio


class Wakeable:
    """Callers check their own "something to do" condition before ``_park`` and ``_wake`` after changing it,
    so no wake-up is lost (all on one event loop)."""

    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _park(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
