"""Where a command's CPU goes without sockets: one ``state.patch`` POST at a time through the whole ASGI
app (``create_app``), in process, on the memory and SQLite engines; thread CPU µs per command.

``--off guard,audit`` switches those parts off (a measurement only: never a way to run) to show what
each costs. Run from the repo root: `.venv/bin/python bench/command_path.py [--off guard,audit]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from typing import Any

from atoms_core.app.main import build_context, create_app
from atoms_core.config.settings import load_settings
from atoms_core.identity.tickets import mint_identity_token


async def per_command(engine: str, off: set[str], n: int = 5000, streams: int = 100) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(cli={"data_dir": tmp, "engine": engine}, environ={})
        ctx = build_context(settings)
        if "guard" in off:
            object.__setattr__(ctx, "sidecar_guard", lambda body: None)
        if "audit" in off:
            ctx.audit.record = lambda *args, **kwargs: None  # type: ignore[method-assign]
        app = create_app(settings, ctx)
        await ctx.store.open()
        ctx.audit.start()
        auth = f"Bearer {mint_identity_token(settings, ctx.keys, 'bench', 'bench', [], 3600, None)}".encode()
        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def command(i: int) -> None:
            stream = f"canvas:s{i % streams}"
            body = json.dumps({"command_id": uuid.uuid4().hex, "type": "state.patch", "stream_id": stream,
                               "payload": {"ops": [{"op": "add", "path": "/bench", "value": "x" * 120}]}}).encode()
            scope = {"type": "http", "http_version": "1.1", "method": "POST", "scheme": "http",
                     "path": f"/v1/streams/{stream}/commands", "raw_path": b"", "query_string": b"",
                     "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
                     "headers": [(b"authorization", auth), (b"content-type", b"application/json"),
                                 (b"content-length", str(len(body)).encode())]}
            messages = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict[str, Any]:
                return messages.pop() if messages else {"type": "http.disconnect"}

            await app(scope, receive, send)

        for i in range(500):  # warm: every stream cached, every code path run
            await command(i)
        start = time.thread_time()
        for i in range(500, 500 + n):
            await command(i)
        elapsed = time.thread_time() - start
        await ctx.audit.stop()
        await ctx.store.close()
        if set(statuses) != {202}:
            raise RuntimeError(f"not every command was accepted: {sorted(set(statuses))}")
        return elapsed / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--off", default="", help="comma-separated: guard, audit")
    off = {part for part in parser.parse_args().off.split(",") if part}
    for engine in ("memory", "sqlite"):
        print(f"{engine}: {asyncio.run(per_command(engine, off)):.1f} µs CPU per command"
              + (f" (off: {', '.join(sorted(off))})" if off else ""))


if __name__ == "__main__":
    main()
