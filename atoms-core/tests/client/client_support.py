"""Helpers for the client tests: follow a subscription in the background, wait for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from atoms_core.client import Control, Item, Subscription
from atoms_core.protocol.wire import EventEnvelope


async def until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


class Follower:
    """Consumes ``sub.items()`` in a task; ``items`` is everything seen, in order."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.items: list[Item] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.sub.items():
            self.items.append(item)

    @property
    def events(self) -> list[EventEnvelope]:
        return [i for i in self.items if isinstance(i, EventEnvelope)]

    def controls(self, kind: str) -> list[Control]:
        return [i for i in self.items if isinstance(i, Control) and i.kind == kind]

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.sub.aclose()
