"""Command throughput of the engine in process, printed as a table (a measurement, not a test).

    cd atoms-core && ../.venv/bin/python tests/realtime/engine_throughput.py

No HTTP and no disk: ``Partitions.submit`` over the memory store, with one SSE subscriber per partition so
every commit is encoded and published. One writer (latency-bound: one commit per command), 64 writers on
one partition (group commit), and 64 partitions written concurrently. Commands per CPU second of this
process (so other load on the machine skews it less), best of five rounds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from atoms_core.engine.hub import Hub
from atoms_core.engine.partitions import Partitions
from atoms_core.protocol.artifacts import ArtifactRecord
from atoms_core.protocol.contracts import CommandEnvelope
from atoms_core.protocol.timeline import Partition
from atoms_core.stores.memory import MemoryStore


class _Quiet:
    def accepted(self, *args: Any) -> None: ...

    def refused(self, *args: Any) -> None: ...

    def committed(self) -> None: ...


class _NoSink:
    def put_snapshot(self, partition: Partition, record: ArtifactRecord, blob: bytes) -> None: ...


def command(stream: str, i: int) -> CommandEnvelope:
    return CommandEnvelope.model_validate({"command_id": f"c{i}", "type": "state.patch", "stream_id": stream,
                                           "payload": {"ops": [{"op": "add", "path": f"/k{i % 50}", "value": i}]}})


async def round_(writers: int, streams: int, n: int) -> float:
    hub = Hub()
    parts = Partitions(MemoryStore(), hub, _NoSink(), _Quiet(), snapshot_every=0, retention=10**9,
                       cache_size=1000)
    subs = [hub.subscribe(Partition("bench", f"canvas:s{s}"), 1 << 30) for s in range(streams)]

    work = [(Partition("bench", f"canvas:s{w % streams}"), [command(f"canvas:s{w % streams}", w * n + i)
                                                              for i in range(n)]) for w in range(writers)]

    async def writer(part: Partition, commands: list[CommandEnvelope]) -> None:
        for i, cmd in enumerate(commands):
            await parts.submit(part, "alice", [cmd])
            if i % 64 == 0:
                for sub in subs:
                    sub.take()

    start = time.process_time()
    await asyncio.gather(*(writer(part, commands) for part, commands in work))
    return writers * n / (time.process_time() - start)


CASES = {"1 writer": (1, 1, 5000), "64 writers, 1 partition": (64, 1, 100), "64 partitions": (64, 64, 100)}


async def main() -> None:
    print(f"{'commands/CPU s':<14}" + "".join(f"{label:>28}" for label in CASES))
    best = [max([await round_(*case) for _ in range(5)]) for case in CASES.values()]
    print(f"{'best of 5':<14}" + "".join(f"{value:>28,.0f}" for value in best))


if __name__ == "__main__":
    asyncio.run(main())
