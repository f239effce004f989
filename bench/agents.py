"""Agents as peers at load (issue 18): many model answers streamed into canvases, many viewers each.

A real ``atoms serve`` (SQLite), a local server replaying a recorded OpenAI Chat Completions stream of
``--tokens`` tokens to the official ``openai`` SDK (one SSE event every ``--pace`` s), and ``--streams``
``ChatAgent``\\ s (what ``atoms agent --provider openai`` runs), one per canvas, each with its own HTTP
client so its requests are counted. Each canvas has ``--viewers`` SSE subscribers (the Python client's
``Subscription``, which applies events by the server's own rules). One user message per canvas starts
all answers at once.

Prints: HTTP requests per stream (commands, tickets, SSE connects), token_patch events per stream, the
server's CPU time per token (utime+stime of the server process over the run / tokens written) and
whether every viewer rebuilt every answer exactly (text, ``finish_reason``, final chunk, chunk indexes
0..n-1 once each). Run from the repo root: ``.venv/bin/python bench/agents.py`` (loopback only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "atoms-core" / "tests"))

from atoms_core.client import AtomsClient, Subscription
from atoms_core.client.agent import ChatAgent
from atoms_core.client.models import OpenAIModel
from provider_replay import ReplayServer
from servers import AtomsServer

WORDS = ["canvas", " shape", " 橙色", " layer", " ✓", " frame", "\n", " café", " 🌅", " grid"]


def recording(tokens: int) -> tuple[str, str]:
    """An OpenAI chat.completion.chunk stream of ``tokens`` content deltas, and its whole text."""
    parts = [f"{WORDS[i % len(WORDS)]}{i}" for i in range(tokens)]
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764576000,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_bench"}

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        body = {**head, "choices": choices, "usage": usage}
        return "data: " + json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n\n"

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": part}) for part in parts]
    out += [chunk({}, "stop"), chunk(None, usage={"prompt_tokens": 9, "completion_tokens": tokens,
                                                  "total_tokens": tokens + 9}), "data: [DONE]\n\n"]
    return "".join(out), "".join(parts)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Counter:
    """Counts one agent's HTTP requests by kind."""

    def __init__(self) -> None:
        self.kinds: dict[str, int] = {"commands": 0, "tickets": 0, "events": 0}

    async def __call__(self, request: httpx.Request) -> None:
        path = request.url.path
        kind = "commands" if path.endswith("/commands") else "tickets" if path.endswith("/tickets") else "events"
        self.kinds[kind] += 1


def check(sub: Subscription, text: str) -> bool:
    """The viewer's rebuilt reply: the exact text, finished, not interrupted."""
    chat = sub.view.doc.get("chat", [])
    return (len(chat) == 2 and chat[1].get("text") == text and chat[1].get("finish_reason") == "stop"
            and "interrupted" not in chat[1])


async def follow(sub: Subscription, chunks: list[int], finals: list[bool]) -> None:
    async for event in sub:
        if event.type.value == "token_patch":
            chunks.append(int(event.data["index"]))
            finals.append(bool(event.data["final"]))
            if event.data["final"]:
                return


async def bench(streams: int, tokens: int, viewers: int, pace: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "replay" / "openai_chat").mkdir(parents=True)
        wire, text = recording(tokens)
        (root / "replay" / "openai_chat" / "bench.sse").write_text(wire)
        server = AtomsServer(root / "data").start()
        try:
            assert server.proc is not None
            with ReplayServer(root / "replay", delay=pace) as replay:
                await run(server, replay, streams, tokens, viewers, text)
        finally:
            server.stop()


async def run(server: AtomsServer, replay: ReplayServer, streams: int, tokens: int, viewers: int,
              text: str) -> None:
    assert server.proc is not None
    names = [f"canvas:bench-{uuid.uuid4().hex[:8]}-{i}" for i in range(streams)]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    viewer_http = httpx.AsyncClient(limits=limits, timeout=60)
    viewer_client = AtomsClient(server.url, lambda: server.token(principal="viewer"), http=viewer_http)
    counters = [Counter() for _ in names]
    agent_https = [httpx.AsyncClient(limits=limits, timeout=60, event_hooks={"request": [c]}) for c in counters]
    agent_clients = [AtomsClient(server.url, lambda: server.token(principal="agent"), http=h) for h in agent_https]
    model = OpenAIModel("bench", api_key="sk-bench", base_url=f"{replay.url}/v1", max_tokens=tokens)
    subs = [[viewer_client.subscribe(name) for _ in range(viewers)] for name in names]
    seen: list[list[tuple[list[int], list[bool]]]] = [[([], []) for _ in range(viewers)] for _ in names]
    followers = [asyncio.create_task(follow(sub, *seen[s][v])) for s, row in enumerate(subs)
                 for v, sub in enumerate(row)]
    agents = [ChatAgent(c, name, log=lambda line: None, model=model) for c, name in zip(agent_clients, names, strict=True)]
    agent_tasks = [asyncio.create_task(a.run()) for a in agents]
    while not all(sub.view.has_state for row in subs for sub in row):
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # the agents' own subscriptions
    baseline = [dict(c.kinds) for c in counters]
    cpu0, t0 = cpu_seconds(server.proc.pid), time.perf_counter()
    async with AtomsClient(server.url, lambda: server.token(principal="ann")) as person:
        await asyncio.gather(*(person.command(n, "chat.post", {"role": "user", "text": "go"}) for n in names))
    await asyncio.wait_for(asyncio.gather(*followers), timeout=600)
    wall, cpu = time.perf_counter() - t0, cpu_seconds(server.proc.pid) - cpu0
    exact = sum(check(sub, text) for row in subs for sub in row)
    ordered = sum(idx == list(range(len(idx))) and fin[-1] and not any(fin[:-1])
                  for row in seen for idx, fin in row)
    for task in agent_tasks:
        task.cancel()
    await asyncio.gather(*agent_tasks, return_exceptions=True)
    for row in subs:
        for sub in row:
            await sub.aclose()
    per_stream = [{k: c.kinds[k] - b[k] for k in c.kinds} for c, b in zip(counters, baseline, strict=True)]
    total = streams * tokens
    commands = sorted(p["commands"] for p in per_stream)
    patches = sorted(len(seen[s][0][0]) for s in range(streams))
    print(f"{streams} agent streams × {tokens} tokens, {viewers} viewers each ({streams * viewers} SSE subscribers),"
          f" replay pace {replay.delay * 1000:g} ms/token")
    print(f"wall {wall:.1f} s; {total / wall:,.0f} tokens/s written")
    print(f"HTTP requests per stream during the answer: commands min/median/max {commands[0]}/"
          f"{commands[len(commands) // 2]}/{commands[-1]}, tickets {sum(p['tickets'] for p in per_stream)}, "
          f"SSE connects {sum(p['events'] for p in per_stream)} (all streams)")
    print(f"token_patch events per stream: min/median/max {patches[0]}/{patches[len(patches) // 2]}/{patches[-1]}"
          f" (≈ {tokens / patches[len(patches) // 2]:.1f} tokens per chunk)")
    print(f"server CPU {cpu:.2f} s = {cpu / total * 1e6:.1f} µs per token "
          f"({cpu / (sum(patches) * (viewers + 1)) * 1e6:.1f} µs per delivered token_patch)")
    print(f"exact reconstruction: {exact}/{streams * viewers} viewers rebuilt the exact text + finish; "
          f"{ordered}/{streams * viewers} saw chunk indexes 0..n-1 once each with one final")
    for http in [viewer_http, *agent_https]:
        await http.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--pace", type=float, default=0.005, help="seconds between replayed provider events")
    args = parser.parse_args()
    asyncio.run(bench(args.streams, args.tokens, args.viewers, args.pace))


if __name__ == "__main__":
    main()
