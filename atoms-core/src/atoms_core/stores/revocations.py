"""Where revocations outlive a restart: a small SQLite file in the data dir (memory and sqlite
engines), or a Redis hash that every node reads, with a pub/sub message telling the other nodes
at once (``app/redis_node.py`` subscribes them; a resubscribe reloads the hash, so none is missed)."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from atoms_core.identity.revocations import Revocation
from atoms_core.protocol.errors import Unavailable

#: The Redis hash of every revocation and the shard channel that announces a new one.
REDIS_KEY = CHANNEL = "atoms:revocations"


def _field(revocation: Revocation) -> str:
    return "\x00".join((revocation.tenant_id, revocation.principal_id, revocation.jti or ""))


class FileRevocations:
    """``revocations.db`` beside the timeline: written once per revocation, read once at start."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "revocations.db"

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        db.execute("CREATE TABLE IF NOT EXISTS revocations (key TEXT PRIMARY KEY, record TEXT NOT NULL)")
        return db

    def _load(self) -> list[Revocation]:
        with closing(self._connect()) as db:
            return [Revocation.from_json(row[0]) for row in db.execute("SELECT record FROM revocations")]

    def _add(self, revocation: Revocation) -> None:
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO revocations VALUES (?, ?)", (_field(revocation), revocation.to_json()))

    async def load(self) -> list[Revocation]:
        return await asyncio.to_thread(self._load)

    async def add(self, revocation: Revocation) -> None:
        try:
            await asyncio.to_thread(self._add, revocation)
        except sqlite3.Error as exc:
            raise Unavailable("store_unavailable", f"could not record the revocation: {exc}") from None


class RedisRevocations:
    def __init__(self, url: str) -> None:
        from atoms_core.stores.redis import connect

        self._client = connect(url)

    async def load(self) -> list[Revocation]:
        records = await self._client.hvals(REDIS_KEY)
        return [Revocation.from_json(record) for record in records]

    async def add(self, revocation: Revocation) -> None:
        from redis.exceptions import RedisError

        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(REDIS_KEY, _field(revocation), revocation.to_json())
                pipe.spublish(CHANNEL, revocation.to_json())
                await pipe.execute()
        except RedisError as exc:
            raise Unavailable("store_unavailable", f"could not record the revocation: {exc}") from None

    async def aclose(self) -> None:
        await self._client.aclose()
