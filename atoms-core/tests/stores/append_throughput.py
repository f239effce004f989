"""Append throughput of the timeline engines, printed as a table (a measurement, not a test).

    cd atoms-core && ../.venv/bin/python tests/stores/append_throughput.py

Store level (no HTTP): one writer appending one event per call (latency-bound), one writer appending
groups of 50 (what group commit produces under load), and 64 partitions written concurrently.
Redis runs on loopback with ``appendfsync always`` and ``everysec``; SQLite with WAL and ``NORMAL``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atoms_core.protocol.timeline import Partition, StoredEvent, TimelineStore
from atoms_core.stores.redis import RedisStore
from atoms_core.stores.sqlite import SqliteStore
from redis_server import RedisServer

BODY = '{"id":"0","seq":0,"stream_id":"canvas:bench","type":"state_patch","version":1,"ts":"2026-01-01T00:00:00Z",' \
       '"actor":"bench","command_id":"c","data":{"ops":[{"op":"add","path":"/k","value":"' + "x" * 120 + '"}]}}'


async def single(store: TimelineStore, tag: str, n: int = 3000) -> float:
    part = Partition(tag, "canvas:single")
    start = time.perf_counter()
    for seq in range(1, n + 1):
        await store.append(part, seq - 1, [StoredEvent(seq, "state_patch", BODY)], {f"c{seq}": "{}"})
    return n / (time.perf_counter() - start)


async def grouped(store: TimelineStore, tag: str, groups: int = 300, size: int = 50) -> float:
    part = Partition(tag, "canvas:grouped")
    start = time.perf_counter()
    for g in range(groups):
        head = g * size
        events = [StoredEvent(head + i, "state_patch", BODY) for i in range(1, size + 1)]
        await store.append(part, head, events, {f"c{head + i}": "{}" for i in range(1, size + 1)})
    return groups * size / (time.perf_counter() - start)


async def parallel(store: TimelineStore, tag: str, partitions: int = 64, n: int = 100) -> float:
    async def writer(p: int) -> None:
        part = Partition(tag, f"canvas:p{p}")
        for seq in range(1, n + 1):
            await store.append(part, seq - 1, [StoredEvent(seq, "state_patch", BODY)], {f"c{seq}": "{}"})

    start = time.perf_counter()
    await asyncio.gather(*(writer(p) for p in range(partitions)))
    return partitions * n / (time.perf_counter() - start)


CASES: dict[str, Callable[[TimelineStore, str], Awaitable[float]]] = {
    "1 event/append": single, "50 events/append": grouped, "64 partitions, 1 event/append": parallel}


async def measure(name: str, store: TimelineStore) -> None:
    await store.open()
    try:
        row = [f"{await case(store, f'{name}-{label}'):>10,.0f}" for label, case in CASES.items()]
    finally:
        await store.close()
    print(f"{name:<28}" + "".join(f"{cell:>32}" for cell in row))


async def main() -> None:
    print(f"{'events/s':<28}" + "".join(f"{label:>32}" for label in CASES))
    with tempfile.TemporaryDirectory() as tmp:
        await measure("sqlite (WAL, NORMAL)", SqliteStore(Path(tmp) / "t.db", "NORMAL"))
        for fsync in ("always", "everysec"):
            server = RedisServer(Path(tmp) / f"redis-{fsync}").start()
            try:
                await set_fsync(server.url, fsync)
                await measure(f"redis (appendfsync {fsync})", RedisStore(server.url))
            finally:
                server.stop()


async def set_fsync(url: str, fsync: str) -> None:
    store = RedisStore(url)
    await store.open()
    try:
        await store.client.config_set("appendfsync", fsync)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
