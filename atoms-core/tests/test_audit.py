"""The DatasetEvent audit log: one record per accepted/refused command, ticket and SSE open/close,
per tenant, exported with `atoms audit export`."""

from __future__ import annotations

import json

import httpx

from servers import AtomsServer
from streams_api import StreamClient, patch


def test_audit_export_records_each_outcome_per_tenant(server: AtomsServer) -> None:
    stream = "canvas:audited"
    client = StreamClient(server.url, server.token("acme", "alice"), stream)
    server.ticket(stream, ["read"], token=server.token("acme", "alice"))
    assert client.post(patch(stream, "/a", 1, command_id="ok-1")).status_code == 202
    assert client.post(patch(stream, "/a", 1, command_id="ok-1")).status_code == 202  # duplicate: no 2nd record
    assert client.post(patch(stream, "/missing/x", 1, op="replace", command_id="bad-1")).status_code == 422
    with httpx.stream("GET", client.events_url, headers=client.headers) as response:
        next(response.iter_lines())
    StreamClient(server.url, server.token("globex", "bob"), stream).post(patch(stream, "/b", 2, command_id="g-1"))
    server.stop()  # flushes the buffered log

    out = server.cli("audit", "export", "--data-dir", str(server.data_dir), "--tenant", "acme")
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds.count("ticket.issued") == 1
    accepted = [e for e in events if e["kind"] == "command.accepted"]
    assert [(e["command_id"], e["seq"], e["actor"]) for e in accepted] == [("ok-1", 1, "alice")]
    assert accepted[0]["payload_digest"].startswith("sha256:")
    refused = [e for e in events if e["kind"] == "command.refused"]
    assert [(e["command_id"], e["reason"]) for e in refused] == [("bad-1", "patch_failed")]
    assert "sse.opened" in kinds and "sse.closed" in kinds
    assert all(e["tenant"] == "acme" for e in events) and "g-1" not in out  # nothing of globex
    since = server.cli("audit", "export", "--data-dir", str(server.data_dir), "--tenant", "acme",
                       "--since", "2999-01-01T00:00:00Z")
    assert since == ""
