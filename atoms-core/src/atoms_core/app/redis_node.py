"""A node's Redis parts (``engine = "redis"``), for ``build_context`` to assemble: one pub/sub link, the
presence relay (the ``PresenceBus``), the timeline fan-out (the ``Watcher`` of ``Partitions``) and the
revocations every node shares."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from atoms_core.config.settings import Settings
from atoms_core.engine.partitions import Partitions
from atoms_core.identity.revocations import Revocation, Revocations
from atoms_core.protocol.timeline import TimelineStore
from atoms_core.stores.redis import RedisStore
from atoms_core.stores.redis_fanout import RedisFanout
from atoms_core.stores.redis_presence import RedisPresence
from atoms_core.stores.redis_pubsub import PubSubLink
from atoms_core.stores.revocations import CHANNEL, RedisRevocations

log = logging.getLogger("atoms.redis")


class RedisNode:
    """The parts share one link; they start and stop with the app as one ``Lifecycle``."""

    def __init__(self, store: RedisStore, node_id: str, presence_ttl_s: float, revocations: Revocations) -> None:
        self.store = store
        self.link = PubSubLink(store.url)
        self.presence = RedisPresence(store, self.link, node_id, presence_ttl_s)
        self.fanout: RedisFanout | None = None  # built with the partitions it feeds
        self.revocations = revocations
        self.revocation_store = revocations.store = RedisRevocations(store.url)
        self.link.add(CHANNEL, self._on_revocation)

    def watcher(self, partitions: Partitions) -> RedisFanout:
        """The watcher factory ``Partitions`` is built with: the fan-out feeding those partitions."""
        self.fanout = RedisFanout(self.store, partitions, self.link)
        return self.fanout

    async def start(self) -> None:
        await self.link.start()
        await self.presence.start()

    async def stop(self) -> None:
        await self.presence.stop()
        if self.fanout is not None:
            await self.fanout.stop()
        await self.link.stop()
        await self.revocation_store.aclose()

    def _on_revocation(self, data: str | None) -> None:
        """Another node's revocation (or ours, echoed): apply it; on (re)subscribe reload them all."""
        if data is not None:
            with contextlib.suppress(ValueError):
                self.revocations.apply(Revocation.from_json(data))
            return
        task = asyncio.ensure_future(self.revocations.open())
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not reload the revocations from redis: %s", task.exception())


def redis_node(settings: Settings, store: TimelineStore, revocations: Revocations) -> RedisNode:
    """This node's Redis parts, on the store ``create_store`` built for ``engine = "redis"``."""
    if not isinstance(store, RedisStore):
        raise TypeError("the redis node parts need the redis store")
    return RedisNode(store, settings.node_id or uuid.uuid4().hex, settings.ws_idle_timeout_s, revocations)
