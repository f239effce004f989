"""Cross-node fan-out on Redis: a node hears only the partitions it caches, then reads the stream.

Every append publishes ``<epoch> <head>`` on its partition's shard channel, inside the append script
(``stores/redis.py``). This node subscribes to the channels of exactly the partitions in its cache
(which holds every partition its SSE subscribers watch) — there is no global queue. A notify above
the cached seq makes it read the events after that seq from the stream (``Partitions.catch_up``) and
publish them to the local hub, so order and the no-gap/no-duplicate guarantee come from the timeline,
not from pub/sub: a lost notify only delays delivery until the next one, or until a (re)subscription,
which always catches up. A changed epoch means Redis lost the partition: the cache is rebuilt and
local subscribers get ``resync``. While the pub/sub link (``stores/redis_pubsub.py``) is down the node
is not ``live`` and ``Partitions.get`` answers 503, so clients retry rather than read a stale cache.
"""

from __future__ import annotations

import asyncio
import logging

from atoms_core.engine.partitions import Partitions
from atoms_core.protocol.codes import ResyncReason
from atoms_core.protocol.errors import Unavailable
from atoms_core.protocol.timeline import Partition, StoreUnavailable
from atoms_core.stores.redis import RedisStore, notify_channel, parse_notify
from atoms_core.stores.redis_pubsub import PubSubLink

log = logging.getLogger("atoms.fanout")

CATCH_UP_RETRY_S = 0.2


class RedisFanout:
    """One per node: the ``Watcher`` of ``Partitions``, listening on the node's pub/sub link."""

    def __init__(self, store: RedisStore, partitions: Partitions, link: PubSubLink) -> None:
        self.store = store
        self.partitions = partitions
        self.link = link
        self._watched: set[Partition] = set()
        self._epochs: dict[Partition, str] = {}  # epoch the cache of a partition is built on
        self._due: dict[Partition, tuple[str, int | None]] = {}  # catch-up wanted: (epoch hint, head)
        self._workers: dict[Partition, asyncio.Task[None]] = {}

    # --- Watcher -------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self.link.live

    def watch(self, partition: Partition) -> None:
        self._watched.add(partition)
        self.link.add(notify_channel(partition), lambda data: self._on_notify(partition, data))

    def unwatch(self, partition: Partition) -> None:
        self._watched.discard(partition)
        self._epochs.pop(partition, None)
        self.link.remove(notify_channel(partition))

    def _on_notify(self, partition: Partition, data: str | None) -> None:
        if data is None:  # (re)subscribed: commits since the cache was built sent no notify here
            self._request(partition, "", None)
        else:
            epoch, head = parse_notify(data)
            self._request(partition, epoch, head)

    async def stop(self) -> None:
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    # --- catching up, one worker per partition at a time ---------------------------------

    def _request(self, partition: Partition, epoch: str, head: int | None) -> None:
        due = self._due.get(partition)
        if due is not None:  # merge: any unknown head means "read to the end"
            head = None if head is None or due[1] is None else max(head, due[1])
            epoch = epoch or due[0]
        self._due[partition] = (epoch, head)
        if partition not in self._workers:
            self._workers[partition] = asyncio.create_task(self._work(partition))

    async def _work(self, partition: Partition) -> None:
        try:
            while partition in self._due:
                epoch, head = self._due.pop(partition)
                try:
                    await self._sync(partition, epoch, head)
                except (StoreUnavailable, Unavailable) as exc:
                    log.info("catch-up of %s failed: %s", partition, exc)
                    await asyncio.sleep(CATCH_UP_RETRY_S)
                    # Retry while linked; after a lost link, resubscribing catches up every partition.
                    if self.live and partition in self._watched:
                        self._due.setdefault(partition, ("", None))
        finally:
            del self._workers[partition]

    async def _sync(self, partition: Partition, epoch: str, head: int | None) -> None:
        plog = self.partitions.cached(partition)
        if plog is None:
            return
        epoch = epoch or await self.store.epoch(partition)
        known = self._epochs.get(partition)
        if known and epoch and epoch != known:
            await self.partitions.reload(plog, ResyncReason.HISTORY_LOST)
        else:
            await self.partitions.catch_up(plog, head)
        if epoch:
            self._epochs[partition] = epoch
        else:  # the store holds nothing: whatever epoch comes next starts from what the cache now has
            self._epochs.pop(partition, None)
