"""Timeline store engines, chosen by ``settings.engine``; the import of each is inside its branch."""

from __future__ import annotations

from atoms_core.config.settings import Settings
from atoms_core.protocol.timeline import TimelineStore


def create_store(settings: Settings, redis_url: str | None = None) -> TimelineStore:
    if settings.engine == "memory":
        from atoms_core.stores.memory import MemoryStore

        return MemoryStore()
    if settings.engine == "sqlite":
        from atoms_core.stores.sqlite import SqliteStore

        return SqliteStore(settings.data_dir / "timeline.db", settings.sqlite_synchronous, settings.allow_empty_store)
    from atoms_core.stores.redis import RedisStore

    return RedisStore(redis_url or settings.redis_url)
