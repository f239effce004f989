"""The DatasetEvent audit log: one record per accepted/refused command, ticket and SSE open/close,
per tenant, exported with `atoms audit export`."""

from __future__ import annotations

import hashlib
import json
import subprocess

import httpx

from servers import ATOMS, AtomsServer
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


def test_no_tenant_exports_another_tenants_audit(server: AtomsServer) -> None:
    unsafe = "Acme Corp"  # the old scheme filed it as sha256-<hex>.ndjson, itself a valid tenant id
    twin = "sha256-" + hashlib.sha256(unsafe.encode()).hexdigest()
    response = httpx.post(f"{server.url}/v1/tickets", json={"stream_id": "canvas:x"},
                          headers={"Authorization": f"Bearer {server.token(unsafe)}"})
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"
    near = ["acme", "Acme", "acme.ndjson", "a.b", "a_b"]  # distinct tenants, distinct files
    for tenant in near:
        server.ticket(f"canvas:{tenant.replace('.', '-')}", ["read"], token=server.token(tenant, f"p-{tenant}"))
    server.stop()
    for tenant in near:
        out = server.cli("audit", "export", "--data-dir", str(server.data_dir), "--tenant", tenant)
        events = [json.loads(line) for line in out.splitlines()]
        assert [(e["tenant"], e["actor"], e["kind"]) for e in events] == [(tenant, f"p-{tenant}", "ticket.issued")]
    refused = subprocess.run([ATOMS, "audit", "export", "--data-dir", str(server.data_dir), "--tenant", twin],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and refused.stdout == "" and "tenant id" in refused.stderr
