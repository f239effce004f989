"""The node's pub/sub link on a real ``redis-server``: it must come back from anything, or the node
stays unready for good."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from atoms_core.stores.redis_pubsub import PubSubLink
from redis_server import RedisServer, running_redis


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path / "redis") as started:
        yield started


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def publish_until_heard(client: aioredis.Redis, channel: str, heard: list[str], payload: str) -> None:
    """Publish until the payload arrives (a subscription is confirmed asynchronously)."""
    deadline = time.monotonic() + 10
    while payload not in heard:
        assert time.monotonic() < deadline, f"{payload} never arrived on {channel}"
        with contextlib.suppress(redis.exceptions.ConnectionError):  # a pooled connection from before a restart
            await client.spublish(channel, payload)
        await asyncio.sleep(0.05)


async def test_a_failing_handler_costs_one_reconnect_not_the_link(server: RedisServer) -> None:
    link = PubSubLink(server.url)
    heard: list[str] = []
    confirmed: list[None] = []

    def explode(data: str | None) -> None:
        if data is not None:
            raise RuntimeError("a handler bug")

    def record(data: str | None) -> None:
        if data is None:
            confirmed.append(None)
        else:
            heard.append(data)

    link.add("bad", explode)
    link.add("good", record)
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        await link.start()
        await publish_until_heard(client, "good", heard, "before")
        subscriptions_before = len(confirmed)
        await client.spublish("bad", "boom")
        await until(lambda: len(confirmed) > subscriptions_before)  # reconnected and resubscribed
        await until(lambda: link.live)
        await publish_until_heard(client, "good", heard, "after")
        assert heard.count("after") >= 1 and heard.index("before") < heard.index("after")
    finally:
        await link.stop()
        await client.aclose()


async def test_the_link_comes_back_after_redis_restarts(server: RedisServer) -> None:
    link = PubSubLink(server.url)
    heard: list[str] = []
    link.add("notify", lambda data: heard.append(data) if data is not None else None)
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        await link.start()
        assert link.live
        for round_ in range(3):
            await asyncio.to_thread(server.kill)
            await until(lambda: not link.live)
            await asyncio.to_thread(server.start)
            await until(lambda: link.live)
            await publish_until_heard(client, "notify", heard, f"round {round_}")
    finally:
        await link.stop()
        await client.aclose()
