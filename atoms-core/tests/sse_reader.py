"""A minimal SSE reader for tests over real HTTP (httpx streaming)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Frame:
    event: str
    data: str
    id: str | None

    @property
    def json(self) -> Any:
        return json.loads(self.data)


async def frames(response: httpx.Response) -> AsyncIterator[Frame]:
    event, data, event_id = "message", [], None
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Frame(event, "\n".join(data), event_id)
            event, data, event_id = "message", [], None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value


async def collect(client: httpx.AsyncClient, url: str, until: Any, headers: dict[str, str] | None = None,
                  timeout: float = 10.0) -> list[Frame]:
    """Read frames until ``until(frames)`` is true (or time out)."""
    import asyncio

    got: list[Frame] = []

    async def run() -> None:
        async with client.stream("GET", url, headers=headers or {}) as response:
            assert response.status_code == 200, await response.aread()
            async for frame in frames(response):
                got.append(frame)
                if until(got):
                    return

    await asyncio.wait_for(run(), timeout)
    return got
