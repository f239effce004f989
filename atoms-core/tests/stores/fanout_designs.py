"""The two cross-node fan-out designs, measured on one real Redis (a measurement, not a test).

    cd atoms-core && ../.venv/bin/python tests/stores/fanout_designs.py

A listener node watches N partitions; a writer appends M events spread over them (``RedisStore.append``,
which also publishes the notify). Reported: events/s the listener sees, and the latency from append
to "seen" (p50/p99). Design "notify": shard pub/sub per partition, then ``XRANGE`` after the cached
seq (what ``stores/redis_fanout.py`` does). Design "xread": one ``XREAD BLOCK`` over all N streams,
re-issued with every stream's last id after each wake-up.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atoms_core.protocol.timeline import Partition, StoredEvent
from atoms_core.stores.redis import RedisStore, notify_channel, parse_notify, partition_tag
from redis_server import RedisServer

EVENTS = 3000


class Run:
    def __init__(self, store: RedisStore, watched: int) -> None:
        self.store = store
        self.parts = [Partition(f"t{watched}-{random.random()}", f"canvas:p{i}") for i in range(watched)]
        self.sent: dict[tuple[Partition, int], float] = {}
        self.latencies: list[float] = []
        self.done = asyncio.Event()

    def seen(self, part: Partition, seq: int) -> None:
        self.latencies.append(time.perf_counter() - self.sent.pop((part, seq)))
        if len(self.latencies) == EVENTS:
            self.done.set()

    async def write(self) -> None:
        heads = dict.fromkeys(self.parts, 0)
        for _ in range(EVENTS):
            part = random.choice(self.parts)
            seq = heads[part] = heads[part] + 1
            self.sent[(part, seq)] = time.perf_counter()
            await self.store.append(part, seq - 1, [StoredEvent(seq, "log", '{"x":1}')], {})


async def notify_listener(run: Run, ready: asyncio.Event) -> None:
    by_channel = {notify_channel(p): p for p in run.parts}
    cached = dict.fromkeys(run.parts, 0)
    pubsub: Any = run.store.client.pubsub()
    for i in range(0, len(run.parts), 500):
        await pubsub.ssubscribe(*list(by_channel)[i:i + 500])
    confirmed = 0
    while not run.done.is_set():
        message = await pubsub.get_message(timeout=0.5)
        if message is None:
            continue
        if message["type"] == "ssubscribe":
            confirmed += 1
            if confirmed == len(run.parts):
                ready.set()
            continue
        part = by_channel[message["channel"]]
        _, head = parse_notify(message["data"])
        if head > cached[part]:
            for event in await run.store.read(part, cached[part], 1000):
                cached[part] = event.seq
                run.seen(part, event.seq)
    await pubsub.aclose()


async def xread_listener(run: Run, ready: asyncio.Event) -> None:
    keys = {partition_tag(p) + ":events": p for p in run.parts}
    last = dict.fromkeys(keys, "0-0")
    ready.set()
    while not run.done.is_set():
        reply = await run.store.client.xread(last, block=500)
        for key, entries in reply or []:
            for entry_id, _ in entries:
                last[key] = entry_id
                run.seen(keys[key], int(entry_id.partition("-")[0]))


async def measure(url: str, design: str, watched: int) -> None:
    store = RedisStore(url)
    await store.open()
    try:
        run = Run(store, watched)
        ready = asyncio.Event()
        listener = notify_listener if design == "notify" else xread_listener
        task = asyncio.create_task(listener(run, ready))
        await ready.wait()
        start = time.perf_counter()
        await run.write()
        await asyncio.wait_for(run.done.wait(), 60)
        elapsed = time.perf_counter() - start
        await task
    finally:
        await store.close()
    lat = sorted(run.latencies)
    p99 = lat[int(len(lat) * 0.99)]
    print(f"{design:<8}{watched:>10}{EVENTS / elapsed:>14,.0f}{statistics.median(lat) * 1e3:>12.2f}"
          f"{p99 * 1e3:>12.2f}")


async def main() -> None:
    print(f"{'design':<8}{'watched':>10}{'events/s':>14}{'p50 ms':>12}{'p99 ms':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            admin = RedisStore(server.url)
            await admin.open()
            await admin.client.config_set("appendfsync", "everysec")  # measure fan-out, not the disk
            await admin.close()
            for watched in (10, 1000, 5000):
                for design in ("notify", "xread"):
                    await measure(server.url, design, watched)
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
