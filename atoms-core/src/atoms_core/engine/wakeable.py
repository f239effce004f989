"""A single parked writer woken by another step: the writer side of SSE subscribers and WS peers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Generator
from typing import Any


class _Ready:
    """An awaitable that is done at once (a writer with something pending does not park)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that returns at once


READY: Awaitable[None] = _Ready()


class Wakeable:
    """Callers check their own "something to do" condition before ``_park`` and ``_wake`` after changing it,
    so no wake-up is lost (all on one event loop). The writer awaits the future itself, so an idle
    connection's writer costs no coroutine frame of its own (thousands of idle SSE readers park here)."""

    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        #: The parked writer's future: pending while it waits (nothing to do, not yet woken).
        self._waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _park(self) -> asyncio.Future[None]:
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        return waiter
