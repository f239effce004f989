"""Hostile input against a real ``atoms serve`` while a well-behaved client works (issue 13).

The well-behaved client (tenant ``good``) keeps one SSE reader open and posts one ``state.patch``
every 20 ms; its latency is POST sent -> event read on its SSE stream, and ``/healthz`` is probed
every 50 ms. Meanwhile tenant ``evil`` runs, one after the other:

1. copy doubling: a 64 KB string, then ``copy`` of the whole state into a new key 12 times (each
   doubles it), then 3 SSE connects (each gets a ``state_snapshot``) and a ``snapshot.create``;
2. token growth (another stream): ``token.append`` of 64 KB deltas to one chat message, 300 times,
   then 3 SSE connects;
3. WS flood: 40 WebSocket connections of one principal, each sending a max-size ``presence.update``
   in the same tick, 20 rounds.

Prints, per phase, the good client's p50/p99/max and the healthz max, how many hostile commands were
accepted, and the server's peak RSS (VmHWM). Run from the repo root with the venv of the code under
test: ``.venv/bin/python bench/attacks.py`` (loopback only; everything stops by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "atoms-core" / "tests"))

from servers import AtomsServer  # noqa: E402

GOOD, EVIL, EVIL2 = "canvas:good", "canvas:evil", "canvas:evil-tokens"
KB = 1024


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cmd(stream: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"command_id": uuid.uuid4().hex, "type": kind, "stream_id": stream, "payload": payload}


class GoodClient:
    """SSE reader + command writer on its own tenant; records per-command end-to-end latency."""

    def __init__(self, server: AtomsServer) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {server.token('good', 'gina')}"}
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.health: list[float] = []
        self.errors = 0
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()

    def take(self) -> tuple[list[float], list[float]]:
        lat, health = self.latencies, self.health
        self.latencies, self.health = [], []
        return lat, health

    async def read(self) -> None:
        async with httpx.AsyncClient(base_url=self.server.url, headers=self.headers, timeout=None) as http, \
                http.stream("GET", f"/v1/streams/{GOOD}/events") as response:
            async for line in response.aiter_lines():
                if line.startswith("event: state_snapshot"):
                    self.ready.set()
                if line.startswith("data: ") and '"command_id"' in line:
                    cid = json.loads(line[6:]).get("command_id")
                    start = self.sent.pop(cid, None)
                    if start is not None:
                        self.latencies.append((time.perf_counter() - start) * 1000)
                if self.stop.is_set():
                    return

    async def write(self) -> None:
        await self.ready.wait()
        async with httpx.AsyncClient(base_url=self.server.url, headers=self.headers, timeout=60) as http:
            i = 0
            while not self.stop.is_set():
                body = cmd(GOOD, "state.patch", {"ops": [{"op": "add", "path": f"/k{i % 20}", "value": i}]})
                self.sent[body["command_id"]] = time.perf_counter()
                try:
                    (await http.post(f"/v1/streams/{GOOD}/commands", json=body)).raise_for_status()
                except httpx.HTTPError:
                    self.errors += 1
                i += 1
                await asyncio.sleep(0.02)

    async def probe(self) -> None:
        async with httpx.AsyncClient(base_url=self.server.url, timeout=60) as http:
            while not self.stop.is_set():
                start = time.perf_counter()
                with contextlib.suppress(httpx.HTTPError):
                    await http.get("/healthz")
                self.health.append((time.perf_counter() - start) * 1000)
                await asyncio.sleep(0.05)


class Evil:
    def __init__(self, server: AtomsServer) -> None:
        self.server = server
        self.token = server.token("evil", "mallory")
        self.http = httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {self.token}"},
                                      timeout=120)
        self.accepted = 0
        self.refused: dict[str, int] = {}

    async def post(self, body: Any) -> bool:
        try:
            response = await self.http.post(f"/v1/streams/{body['stream_id']}/commands", json=body)
        except httpx.HTTPError as exc:
            self.refused[type(exc).__name__] = self.refused.get(type(exc).__name__, 0) + 1
            return False
        if response.status_code == 202:
            self.accepted += 1
            return True
        code = response.json().get("code", str(response.status_code))
        self.refused[code] = self.refused.get(code, 0) + 1
        return False

    async def sse_connects(self, n: int, stream: str = EVIL) -> int:
        """Open ``n`` SSE connections in turn, each reading its opening frames; the bytes received."""
        total = 0
        for _ in range(n):
            with contextlib.suppress(httpx.HTTPError, TimeoutError):
                async with asyncio.timeout(60), self.http.stream("GET", f"/v1/streams/{stream}/events") as response:
                    tail, seen = b"", False
                    async for chunk in response.aiter_bytes():  # up to the end of the state_snapshot frame
                        total += len(chunk)
                        seen = seen or b"event: state_snapshot" in tail + chunk
                        if seen and chunk.endswith(b"\n\n"):
                            break
                        tail = chunk[-32:]
        return total

    async def copy_doubling(self) -> str:
        await self.post(cmd(EVIL, "state.patch", {"ops": [{"op": "add", "path": "/s", "value": "x" * (64 * KB)}]}))
        for i in range(12):
            await self.post(cmd(EVIL, "state.patch", {"ops": [{"op": "copy", "from": "", "path": f"/k{i}"}]}))
        got = await self.sse_connects(3)
        await self.post(cmd(EVIL, "snapshot.create", {}))
        return f"3 SSE connects got {got / 2**20:.1f} MiB"

    async def token_growth(self) -> str:
        await self.post(cmd(EVIL2, "chat.post", {"role": "assistant", "text": "", "message_id": "m"}))
        delta = ("lorem ipsum dolor sit amet " * 2500)[: 64 * KB - 1]
        index = 0
        for _ in range(300):  # a refused chunk is retried at the same index
            index += await self.post(cmd(EVIL2, "token.append", {"target": "/chat/0/text", "delta": delta,
                                                                 "index": index}))
        got = await self.sse_connects(3, EVIL2)
        return f"3 SSE connects got {got / 2**20:.1f} MiB"

    async def ws_flood(self, conns: int = 40, rounds: int = 20) -> str:
        url = f"ws://127.0.0.1:{self.server.port}/v1/streams/{EVIL}/ws"
        peers = []
        for _ in range(conns):
            ticket = (await self.http.post("/v1/tickets", json={"stream_id": EVIL, "scopes": ["presence"]})).json()
            with contextlib.suppress(Exception):
                peers.append(await connect(f"{url}?ticket={ticket['ticket']}", max_size=None, ping_interval=None))
        drained = 0

        async def drain(ws: Any) -> None:
            nonlocal drained
            with contextlib.suppress(Exception):
                async for message in ws:
                    drained += len(message)

        readers = [asyncio.create_task(drain(ws)) for ws in peers]
        blob = {"note": "y" * 3900}  # just under ws_presence_max_bytes (4096)
        frame = json.dumps({"type": "presence.update", "state": blob})
        for _ in range(rounds):
            await asyncio.gather(*(ws.send(frame) for ws in peers), return_exceptions=True)
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        for ws in peers:
            with contextlib.suppress(Exception):
                await ws.close()
        for task in readers:
            task.cancel()
        return f"{len(peers)} peers open, {drained / 2**20:.1f} MiB fanned out"


def summary(name: str, lat: list[float], health: list[float], evil: Evil, note: str, pid: int) -> str:
    lat = sorted(lat) or [0.0]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    refused = ", ".join(f"{k} {v}" for k, v in sorted(evil.refused.items())) or "none"
    line = (f"| {name} | {len(lat)} | {statistics.median(lat):.1f} | {p99:.1f} | {lat[-1]:.1f} | "
            f"{max(health, default=0):.1f} | {evil.accepted} | {refused} | {rss_peak_mb(pid):.0f} | {note} |")
    evil.accepted, evil.refused = 0, {}
    return line


async def main(only: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = AtomsServer(Path(tmp) / "data").start()
        assert server.proc is not None
        pid = server.proc.pid
        try:
            good = GoodClient(server)
            tasks = [asyncio.create_task(good.read()), asyncio.create_task(good.write()),
                     asyncio.create_task(good.probe())]
            evil = Evil(server)
            rows = []
            await asyncio.sleep(3)
            rows.append(summary("baseline (no attack), 3 s", *good.take(), evil, "", pid))
            phases = [("copy doubling", evil.copy_doubling), ("token growth", evil.token_growth),
                      ("WS flood", evil.ws_flood)]
            for name, attack in [phase for phase in phases if not only or phase[0] in only]:
                start = time.perf_counter()
                note = await attack()
                note += f"; {time.perf_counter() - start:.1f} s"
                await asyncio.sleep(1)
                rows.append(summary(name, *good.take(), evil, note, pid))
            good.stop.set()
            for task in tasks:
                task.cancel()
            await evil.http.aclose()
        finally:
            server.stop()
    print("| phase | good cmds | p50 ms | p99 ms | max ms | healthz max ms | evil accepted | evil refused "
          "| server peak RSS MiB | notes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\ngood client errors: {good.errors}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))  # phase names to run only those, e.g. "WS flood"
