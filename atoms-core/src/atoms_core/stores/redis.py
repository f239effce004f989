"""RedisStore: the timeline on Redis Streams, so several stateless nodes can share one timeline.

Each ``(tenant, stream)`` partition owns a few keys that share one Cluster hash tag, so they sit in
one slot and one Lua script can touch them atomically::

    atoms:{<tenant>:<stream>}:events   Stream, entry id ``<seq>-0``, fields type, body
    atoms:{<tenant>:<stream>}:meta     Hash: head, epoch (random, set when the partition is created)
    atoms:{<tenant>:<stream>}:cmds     Hash: command_id -> first result (idempotency)
    atoms:{<tenant>:<stream>}:snap     Hash: seq, state
    atoms:{<tenant>:<stream>}:notify   shard channel: ``<epoch> <head>`` after every append

The append script checks ``expected_head``, checks the seqs follow it, writes events, results and
head, then ``SPUBLISH``es the notify — all in one atomic step, so a writer that dies right after
its commit still wakes the other nodes. A new ``epoch`` means the partition was lost (FLUSHALL, a
restart without persistence) and started again from seq 1. Durability is Redis's: run it with
``appendonly yes`` (``appendfsync always`` to lose nothing acknowledged, ``everysec`` for up to a
second). Connection-level failures raise ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from atoms_core.protocol.timeline import (
    CommandSeen,
    HeadMoved,
    Partition,
    StoredEvent,
    StoredSnapshot,
    StoreUnavailable,
    page_bytes,
    within,
)

CONNECT_TIMEOUT_S = 1.0
SOCKET_TIMEOUT_S = 5.0
PING_TIMEOUT_S = 1.0
#: Entries of the first XRANGE of a read bounded in bytes; later ones are sized from what it weighed.
FIRST_READ = 16
#: Server replies that mean "not now" rather than "wrong request".
OUTAGE_REPLIES = ("LOADING", "READONLY", "MASTERDOWN", "MISCONF", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS")

APPEND = """
local head = tonumber(redis.call('HGET', KEYS[1], 'head') or '0')
if head ~= tonumber(ARGV[1]) then return {0, head} end
local n = tonumber(ARGV[3])
for k = 0, n - 1 do
  if tonumber(ARGV[4 + 3 * k]) ~= head + 1 + k then
    return redis.error_reply('ERR atoms: seq ' .. ARGV[4 + 3 * k] .. ' does not follow head ' .. head)
  end
end
for i = 4 + 3 * n, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 1 then return {2, head} end
end
for k = 0, n - 1 do
  local i = 4 + 3 * k
  redis.call('XADD', KEYS[2], ARGV[i] .. '-0', 'type', ARGV[i + 1], 'body', ARGV[i + 2])
end
for i = 4 + 3 * n, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
if n > 0 then
  head = head + n
  redis.call('HSETNX', KEYS[1], 'epoch', ARGV[2])
  redis.call('HSET', KEYS[1], 'head', head)
  redis.call('SPUBLISH', KEYS[4], redis.call('HGET', KEYS[1], 'epoch') .. ' ' .. head)
end
return {1, head}
"""

SAVE_SNAPSHOT = """
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '-1')
if tonumber(ARGV[1]) > seq then redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'state', ARGV[2]) end
return 0
"""


def partition_tag(partition: Partition) -> str:
    """``atoms:{tenant:stream}`` — the tenant is percent-encoded so braces and colons stay unambiguous."""
    return "atoms:{" + quote(partition.tenant_id, safe="") + ":" + partition.stream_id + "}"


def notify_channel(partition: Partition) -> str:
    return partition_tag(partition) + ":notify"


def parse_notify(raw: str) -> tuple[str, int]:
    """``"<epoch> <head>"`` -> ``(epoch, head)``."""
    epoch, _, head = raw.partition(" ")
    return epoch, int(head)


def entry_seq(entry_id: str) -> int:
    """A stream entry id ``<seq>-0`` -> seq."""
    return int(entry_id.partition("-")[0])


def is_outage(exc: RedisError) -> bool:
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith(OUTAGE_REPLIES)


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Turn an outage of Redis into ``StoreUnavailable``; other errors are bugs and pass through."""
    try:
        yield
    except (RedisError, OSError) as exc:
        if isinstance(exc, OSError) or is_outage(exc):
            raise StoreUnavailable(f"redis: {exc}") from exc
        raise


def connect(url: str, retries: int = 1) -> aioredis.Redis:
    """A client that fails fast: by default one quick retry (a pooled connection may be stale), no backoff."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(NoBackoff(), retries),
    )
    return client


class RedisStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._client: aioredis.Redis | None = None
        self._append: Any = None
        self._save_snapshot: Any = None

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreUnavailable("store is not open")
        return self._client

    async def open(self) -> None:
        # No round trip here: a node starts while Redis is down and reports not-ready until it is up.
        if self._client is not None:
            return
        self._client = connect(self.url)
        self._append = self._client.register_script(APPEND)
        self._save_snapshot = self._client.register_script(SAVE_SNAPSHOT)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.client.ping(), PING_TIMEOUT_S))
        except (RedisError, OSError, StoreUnavailable, TimeoutError):
            return False

    async def append(self, partition: Partition, expected_head: int, events: list[StoredEvent],
                     results: dict[str, str]) -> None:
        tag = partition_tag(partition)
        args: list[str | int] = [expected_head, uuid.uuid4().hex, len(events)]
        for event in events:
            args += [event.seq, event.type, event.body]
        for command_id, result in results.items():
            args += [command_id, result]
        with reachable():
            ok, head = await self._append(keys=[f"{tag}:meta", f"{tag}:events", f"{tag}:cmds", f"{tag}:notify"],
                                          args=args)
        if ok == 0:
            raise HeadMoved(int(head))
        if ok == 2:
            raise CommandSeen()

    async def read(self, partition: Partition, after: int, limit: int,
                   max_bytes: int | None = None) -> list[StoredEvent]:
        """One XRANGE; with ``max_bytes`` a few (XRANGE cannot stop at a size itself): a small one
        first, then as many entries as the rest of ``max_bytes`` holds at the average size seen, but never
        more than twice the last read (small events before large ones cannot make it fetch hundreds)."""
        count = limit if max_bytes is None else min(limit, FIRST_READ)
        events: list[StoredEvent] = []
        size = 0
        while True:
            start = events[-1].seq if events else after
            with reachable():
                entries: Any = await self.client.xrange(partition_tag(partition) + ":events", f"{start + 1}-0",
                                                        "+", count=count)
            page = [StoredEvent(entry_seq(entry_id), str(fields["type"]), str(fields["body"]))
                    for entry_id, fields in entries]
            events += page
            size += page_bytes(page)
            if max_bytes is None or len(page) < count or len(events) >= limit or size >= max_bytes:
                return within(events, max_bytes)
            count = min(limit - len(events), 2 * count, max(1, (max_bytes - size) * len(events) // max(size, 1)))

    async def bounds(self, partition: Partition) -> tuple[int, int]:
        tag = partition_tag(partition)
        with reachable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hget(f"{tag}:meta", "head")
                pipe.xrange(f"{tag}:events", "-", "+", count=1)
                raw_head, first_entry = await pipe.execute()
        head = int(raw_head or 0)
        first = entry_seq(first_entry[0][0]) if first_entry else head + 1
        return first, head

    async def lookup(self, partition: Partition, command_ids: list[str]) -> dict[str, str]:
        if not command_ids:
            return {}
        with reachable():
            found = await self.client.hmget(partition_tag(partition) + ":cmds", command_ids)
        return {cid: str(result) for cid, result in zip(command_ids, found, strict=True) if result is not None}

    async def save_snapshot(self, partition: Partition, snapshot: StoredSnapshot) -> None:
        with reachable():
            await self._save_snapshot(keys=[partition_tag(partition) + ":snap"],
                                      args=[snapshot.seq, snapshot.state_json])

    async def latest_snapshot(self, partition: Partition) -> StoredSnapshot | None:
        with reachable():
            seq, state = await self.client.hmget(partition_tag(partition) + ":snap", ["seq", "state"])
        return StoredSnapshot(int(seq), str(state)) if seq is not None else None

    async def prune(self, partition: Partition, through_seq: int) -> None:
        with reachable():
            await self.client.xtrim(partition_tag(partition) + ":events", minid=f"{through_seq + 1}-0",
                                    approximate=False)

    async def epoch(self, partition: Partition) -> str:
        """The partition's epoch ("" before its first event); it changes only when Redis lost it."""
        with reachable():
            value = await self.client.hget(partition_tag(partition) + ":meta", "epoch")
        return str(value or "")
