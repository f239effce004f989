"""Wires a node to Redis (``engine = "redis"``): one pub/sub link, the timeline fan-out and presence relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from atoms_core.endpoints.context import Context
from atoms_core.identity.revocations import Revocation
from atoms_core.stores.redis import RedisStore
from atoms_core.stores.redis_fanout import RedisFanout
from atoms_core.stores.redis_presence import RedisPresence
from atoms_core.stores.redis_pubsub import PubSubLink
from atoms_core.stores.revocations import CHANNEL, RedisRevocations

log = logging.getLogger("atoms.redis")


def attach_redis(ctx: Context) -> None:
    """Call from ``build_context``; the parts start and stop with the app (``on_start``/``on_stop``)."""
    if not isinstance(ctx.store, RedisStore):
        raise TypeError("the redis node parts need the redis store")
    link = PubSubLink(ctx.store.url)
    revocations = ctx.verifier.revocations
    revocations.store = store = RedisRevocations(ctx.store.url)
    link.add(CHANNEL, lambda data: _on_revocation(ctx, data))
    fanout = RedisFanout(ctx.store, ctx.partitions, link)
    ctx.partitions.watcher = fanout
    presence = RedisPresence(ctx.store, link, ctx.settings.node_id or uuid.uuid4().hex,
                             ctx.settings.ws_idle_timeout_s)
    ctx.extras["presence_bus"] = presence.bus
    ctx.extras.setdefault("on_start", []).extend([link.start, presence.start])
    ctx.extras.setdefault("on_stop", []).extend([presence.stop, fanout.stop, link.stop, store.aclose])


def _on_revocation(ctx: Context, data: str | None) -> None:
    """Another node's revocation (or ours, echoed): apply it; on (re)subscribe reload them all."""
    revocations = ctx.verifier.revocations
    if data is not None:
        with contextlib.suppress(ValueError):
            revocations.apply(Revocation.from_json(data))
        return
    task = asyncio.ensure_future(revocations.open())
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not reload the revocations from redis: %s", task.exception())
