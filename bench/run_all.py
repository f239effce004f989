"""`make bench`: the project's own benchmarks, printed as one table.

1. append: commands/s into one SQLite partition, sequential vs 64 concurrent writers (group commit),
   in process (no HTTP), so the number is the engine's.
2. replay: a real server; time for an SSE client resuming at Last-Event-ID 0 to receive 10,000 events.
3. http writers: a real server; 64 keep-alive connections each POSTing state.patch commands to one
   stream, one in flight per connection (a 202 only after the commit); commands/s, server CPU per command.
4. fanout: a real server; 1 publisher (ack-paced state.patch POSTs), 200 SSE subscribers on raw
   sockets; deliveries/s, latency p50/p99, server CPU µs per delivery.
Run from the repo root: `.venv/bin/python bench/run_all.py`. Loopback only; everything stops by itself.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "atoms-core" / "tests"))

from servers import AtomsServer  # noqa: E402

from atoms_core.config.settings import load_settings  # noqa: E402
from atoms_core.app.main import build_context  # noqa: E402
from atoms_core.protocol.contracts import CommandEnvelope  # noqa: E402
from atoms_core.protocol.timeline import Partition  # noqa: E402


def envelope(stream: str, i: int) -> CommandEnvelope:
    return CommandEnvelope.model_validate({"command_id": uuid.uuid4().hex, "type": "state.patch", "stream_id": stream,
                                           "payload": {"ops": [{"op": "add", "path": f"/k{i % 50}", "value": i}]}})


async def bench_append(n: int = 3000) -> list[tuple[str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ctx = build_context(load_settings(cli={"data_dir": tmp}, environ={}))
        await ctx.store.open()
        p = Partition("bench", "canvas:append")
        start = time.perf_counter()
        for i in range(n):
            await ctx.partitions.submit(p, "bench", [envelope(p.stream_id, i)])
        sequential = n / (time.perf_counter() - start)
        commits = 0
        original = ctx.store.append

        async def counting(*args: object) -> None:
            nonlocal commits
            commits += 1
            await original(*args)  # type: ignore[arg-type]

        ctx.store.append = counting  # type: ignore[method-assign]
        start = time.perf_counter()
        sem = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with sem:
                await ctx.partitions.submit(p, "bench", [envelope(p.stream_id, i)])

        await asyncio.gather(*(one(i) for i in range(n)))
        concurrent = n / (time.perf_counter() - start)
        await ctx.store.close()
    rows.append(("append, sequential (1 writer)", f"{sequential:,.0f} commands/s"))
    rows.append(("append, 64 concurrent writers", f"{concurrent:,.0f} commands/s, {n / commits:.1f} commands/commit"))
    return rows


async def bench_replay(server: AtomsServer, token: str, n: int = 10_000) -> list[tuple[str, str]]:
    stream = "canvas:replay"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
        for i in range(0, n, 100):
            body = [json.loads(envelope(stream, j).model_dump_json()) for j in range(i, i + 100)]
            (await http.post(f"/v1/streams/{stream}/commands", json=body)).raise_for_status()
        page = (await http.get(f"/v1/streams/{stream}/history", params={"limit": 1})).json()
        after = page["head_seq"] - n  # automatic snapshots add events; replay the newest n
        assert page["first_seq"] <= after + 1, page
        start = time.perf_counter()
        got = 0
        async with asyncio.timeout(60), http.stream("GET", f"/v1/streams/{stream}/events",
                                                    headers={"Last-Event-ID": str(after)}) as response:
            async for line in response.aiter_lines():
                if line == "event: resync":  # the server is running with too short a retention
                    raise RuntimeError("history was pruned under the replay")
                if line.startswith("id: "):
                    got += 1
                    if got == n:
                        break
        elapsed = time.perf_counter() - start
    return [("replay 10,000 events over SSE", f"{elapsed * 1000:,.0f} ms ({n / elapsed:,.0f} events/s)")]


def cpu_ns(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        total += int((task / "schedstat").read_text().split()[0])
    return total


async def bench_fanout(server: AtomsServer, token: str, subs: int = 200, msgs: int = 200) -> list[tuple[str, str]]:
    stream = "canvas:fanout"
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        ticket = (await http.post("/v1/tickets", json={"stream_id": stream})).json()["ticket"]
    latencies: list[float] = []
    delivered = 0
    done = asyncio.Event()

    async def subscriber() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(f"GET /v1/streams/{stream}/events?ticket={ticket} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await asyncio.wait_for(reader.readuntil(b"state_snapshot"), 30)
        return reader, writer

    async def consume(reader: asyncio.StreamReader) -> None:
        nonlocal delivered
        pending = b""
        while not done.is_set():
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.time_ns()
            complete, _, pending = (pending + chunk).rpartition(b"\n\n")
            for part in complete.split(b"~T")[1:]:
                sent = int(part.split(b"~", 1)[0])
                latencies.append((now - sent) / 1e6)
                delivered += 1
            if delivered >= subs * msgs:
                done.set()

    conns = [await subscriber() for _ in range(subs)]
    readers = [asyncio.create_task(consume(r)) for r, _ in conns]
    assert server.proc is not None
    cpu0 = cpu_ns(server.proc.pid)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(msgs):
            body = {"command_id": uuid.uuid4().hex, "type": "state.patch", "stream_id": stream,
                    "payload": {"ops": [{"op": "add", "path": "/m", "value": f"~T{time.time_ns()}~"}]}}
            (await http.post(f"/v1/streams/{stream}/commands", json=body)).raise_for_status()
    await asyncio.wait_for(done.wait(), 60)
    elapsed = time.perf_counter() - start
    cpu = (cpu_ns(server.proc.pid) - cpu0) / 1e3
    for task in readers:
        task.cancel()
    for _, writer in conns:
        writer.close()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    return [(f"SSE fan-out ({subs} subscribers × {msgs} publishes)",
             f"{delivered / elapsed:,.0f} deliveries/s, p50 {statistics.median(latencies):.1f} ms, "
             f"p99 {p99:.1f} ms, server {cpu / delivered:.1f} µs CPU/delivery")]


async def bench_http_writers(server: AtomsServer, token: str, writers: int = 64,
                             per_writer: int = 100) -> list[tuple[str, str]]:
    stream = "canvas:writers"

    def request(i: int) -> bytes:
        body = json.dumps({"command_id": uuid.uuid4().hex, "type": "state.patch", "stream_id": stream,
                           "payload": {"ops": [{"op": "add", "path": f"/k{i % 50}", "value": i}]}}).encode()
        return (f"POST /v1/streams/{stream}/commands HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    async def writer(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], first: int) -> None:
        reader, out = conn
        for i in range(first, first + per_writer):
            out.write(request(i))
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 202 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(head.decode(errors="replace"))
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)

    conns = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(writers)]
    assert server.proc is not None
    cpu0 = cpu_ns(server.proc.pid)
    start = time.perf_counter()
    await asyncio.gather(*(writer(conn, n * per_writer) for n, conn in enumerate(conns)))
    elapsed = time.perf_counter() - start
    cpu = (cpu_ns(server.proc.pid) - cpu0) / 1e3
    for _, out in conns:
        out.close()
    total = writers * per_writer
    return [(f"commands over HTTP, {writers} concurrent writers", f"{total / elapsed:,.0f} commands/s (202 after "
             f"the commit), server {cpu / total:.0f} µs CPU/command")]


async def main() -> None:
    rows = await bench_append()
    with tempfile.TemporaryDirectory() as tmp:
        # Retention above the replay's length: an automatic snapshot landing after the history
        # read must not prune the first events the replay asks for.
        server = AtomsServer(Path(tmp) / "data", env={"ATOMS_HISTORY_RETENTION": "100000"}).start()
        try:
            token = server.token("bench", "bench")
            rows += await bench_replay(server, token)
            rows += await bench_http_writers(server, token)
            rows += await bench_fanout(server, token)
        finally:
            server.stop()
    width = max(len(name) for name, _ in rows)
    print(f"{'benchmark'.ljust(width)} | result")
    print(f"{'-' * width}-|-------")
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")
    print(f"\nmachine: {subprocess.run(['uname', '-srm'], capture_output=True, text=True).stdout.strip()}, "
          f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    asyncio.run(main())
