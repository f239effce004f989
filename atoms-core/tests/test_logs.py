"""Logs are JSON lines with request ids, and never carry a ticket."""

from __future__ import annotations

import json

import httpx
from websockets.asyncio.client import connect

from servers import AtomsServer


async def test_logs_are_json_with_request_id_and_no_ticket(server: AtomsServer) -> None:
    stream = "canvas:logs"
    ticket = server.ticket(stream, ["presence", "read"])
    async with connect(f"ws://127.0.0.1:{server.port}/v1/streams/{stream}/ws?ticket={ticket}") as ws:
        await ws.recv()
    response = httpx.get(f"{server.url}/v1/streams/{stream}/state", params={"ticket": ticket, "tenant": "x"},
                         headers={"X-Request-Id": "req-123"})
    assert response.status_code == 400 and response.headers["x-request-id"] == "req-123"
    commands = f"{server.url}/v1/streams/{stream}/commands"
    bearer = {"Authorization": f"Bearer {server.token()}"}
    refused = httpx.post(commands, content=b"{nope", headers={**bearer, "X-Request-Id": "req-456"})
    assert refused.status_code == 400 and refused.headers["x-request-id"] == "req-456"
    assert refused.headers["content-type"] == "application/problem+json"
    ok = httpx.post(commands, headers=bearer, json={"command_id": "c1", "type": "log.append", "stream_id": stream,
                                                    "payload": {"level": "info", "message": "hi"}})
    assert ok.status_code == 202 and len(ok.headers["x-request-id"]) >= 16
    server.stop()
    # The server log holds stdout too: its one human startup line, then JSON log records only.
    lines = [line for line in server.log_path.read_text().splitlines() if not line.startswith("atoms: serving ")]
    records = [json.loads(line) for line in lines]
    assert any(r.get("request_id") == "req-123" and r.get("status") == 400 for r in records)
    assert any(r.get("request_id") == "req-456" and r.get("status") == 400 for r in records)
    assert any("WebSocket" in r["msg"] and "ticket=[redacted]" in r["msg"] for r in records)
    assert ticket not in server.log_path.read_text()
