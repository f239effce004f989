"""This node's one pub/sub link to Redis: keeps the subscribed shard channels equal to the wanted ones.

A channel's handler gets ``None`` each time its subscription is confirmed — the first time and after
every reconnect, since whatever was published in between is gone, so its owner catches up then — and
the payload of every message. ``live`` is False while the link is down; it reconnects with backoff.

The link has its own client, which never retries: redis-py's retry would reconnect and resubscribe
behind this loop's back, racing the reader and the subscriber on one connection. Any failure ends
the connection, and this loop alone reconnects and resubscribes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from atoms_core.stores.redis import connect

log = logging.getLogger("atoms.pubsub")

Handler = Callable[[str | None], None]

LISTEN_TIMEOUT_S = 1.0
RECONNECT_MIN_S = 0.05
RECONNECT_MAX_S = 1.0
FIRST_CONNECT_WAIT_S = 2.0
SUBSCRIBE_CHUNK = 500


class PubSubLink:
    def __init__(self, url: str) -> None:
        self.live = False
        self._handlers: dict[str, Handler] = {}
        self._subscribed: set[str] = set()
        self._changed = asyncio.Event()
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client = connect(url, retries=0)

    def add(self, channel: str, handler: Handler) -> None:
        self._handlers[channel] = handler
        self._changed.set()

    def remove(self, channel: str) -> None:
        self._handlers.pop(channel, None)
        self._changed.set()

    async def start(self) -> None:
        """Connect; wait briefly for the first link so a fresh node is live when its port opens."""
        self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(self._up.wait(), FIRST_CONNECT_WAIT_S)
        except TimeoutError:
            log.warning("redis is not reachable yet; this node stays unready until it is")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.aclose()

    async def _run(self) -> None:
        delay = RECONNECT_MIN_S
        while True:
            pubsub: Any = self._client.pubsub()
            try:
                await pubsub.connect()
                delay = RECONNECT_MIN_S
                await self._listen(pubsub)
            except (RedisError, OSError) as exc:
                if self.live:
                    log.warning("lost the redis pub/sub link: %s", exc)
            except Exception:  # the link must outlive any surprise, or this node stays unready for good
                log.exception("the redis pub/sub link failed; reconnecting")
            finally:
                self.live = False
                self._subscribed.clear()
                await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _listen(self, pubsub: Any) -> None:
        self._changed.set()  # (re)subscribe everything wanted
        subscriber = asyncio.create_task(self._subscribe_loop(pubsub))
        self.live = True
        self._up.set()
        try:
            while True:
                message = await pubsub.get_message(timeout=LISTEN_TIMEOUT_S)
                if subscriber.done():
                    subscriber.result()  # re-raise its connection error
                if message is not None:
                    self._dispatch(message)
        finally:
            subscriber.cancel()
            await asyncio.gather(subscriber, return_exceptions=True)

    async def _subscribe_loop(self, pubsub: Any) -> None:
        """Send (un)subscriptions as wanted channels change, on the connection the reader is reading."""
        while True:
            self._changed.clear()
            wanted = set(self._handlers)
            added, dropped = sorted(wanted - self._subscribed), sorted(self._subscribed - wanted)
            for i in range(0, len(added), SUBSCRIBE_CHUNK):
                chunk = added[i:i + SUBSCRIBE_CHUNK]
                await pubsub.ssubscribe(*chunk)
                self._subscribed.update(chunk)
            if dropped:
                await pubsub.sunsubscribe(*dropped)
                self._subscribed.difference_update(dropped)
            await self._changed.wait()

    def _dispatch(self, message: dict[str, Any]) -> None:
        handler = self._handlers.get(message["channel"])
        if handler is None:
            return
        if message["type"] == "ssubscribe":
            handler(None)
        elif message["type"] == "smessage":
            handler(message["data"])
