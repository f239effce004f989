"""Wires a node to Redis (``engine = "redis"``): one pub/sub link, the timeline fan-out and presence relay."""

from __future__ import annotations

import uuid

from atoms_core.endpoints.context import Context
from atoms_core.stores.redis import RedisStore
from atoms_core.stores.redis_fanout import RedisFanout
from atoms_core.stores.redis_presence import RedisPresence
from atoms_core.stores.redis_pubsub import PubSubLink


def attach_redis(ctx: Context) -> None:
    """Call from ``build_context``; the parts start and stop with the app (``on_start``/``on_stop``)."""
    if not isinstance(ctx.store, RedisStore):
        raise TypeError("the redis node parts need the redis store")
    link = PubSubLink(ctx.store.url)
    fanout = RedisFanout(ctx.store, ctx.partitions, link)
    ctx.partitions.watcher = fanout
    presence = RedisPresence(ctx.store, link, ctx.settings.node_id or uuid.uuid4().hex,
                             ctx.settings.ws_idle_timeout_s)
    ctx.extras["presence_bus"] = presence.bus
    ctx.extras.setdefault("on_start", []).extend([link.start, presence.start])
    ctx.extras.setdefault("on_stop", []).extend([presence.stop, fanout.stop, link.stop])
