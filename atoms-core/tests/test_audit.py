"""The DatasetEvent audit log: one record per accepted/refused command, ticket and SSE open/close,
per tenant, exported with `atoms audit export`; a full disk neither loses records silently nor
leaves the node ready."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import httpx

from filesystems import fill, small_tmpfs
from servers import ATOMS, AtomsServer, running_server
from streams_api import StreamClient, metric, patch


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


def _ready(server: AtomsServer) -> tuple[int, dict[str, bool]]:
    response = httpx.get(f"{server.url}/readyz")
    return response.status_code, response.json()["checks"]


def _wait_ready(server: AtomsServer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while _ready(server)[0] != 200:
        assert time.monotonic() < deadline, f"still unready: {_ready(server)}"
        time.sleep(0.1)


def _accepted_ids(server: AtomsServer, tenant: str = "acme") -> list[str]:
    out = server.cli("audit", "export", "--data-dir", str(server.data_dir), "--tenant", tenant)
    return [e["command_id"] for e in map(json.loads, out.splitlines()) if e["kind"] == "command.accepted"]


def test_a_full_audit_disk_turns_readyz_unready_and_loses_no_record_once_space_returns(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with small_tmpfs(data / "audit", "1m") as audit_dir, running_server(data) as server:
        client = StreamClient(server.url, server.token(), "canvas:full")
        assert client.post(patch(client.stream, "/a", 0, command_id="before")).status_code == 202
        filler = fill(audit_dir)
        ids = [f"full-{i}" for i in range(40)]
        for i, command_id in enumerate(ids):  # the timeline is on another disk: commands go on
            assert client.post(patch(client.stream, f"/k{i}", i, command_id=command_id)).status_code == 202
        status, checks = _ready(server)
        assert status == 503 and checks["audit"] is False and checks["store"] is True
        assert metric(server.url, "atoms_audit_write_errors_total") >= 1
        filler.unlink()
        _wait_ready(server)  # the retry (with backoff) writes what was kept
        assert metric(server.url, "atoms_audit_dropped_total") == 0
        server.stop()
        assert _accepted_ids(server) == ["before", *ids]
        assert "audit log not writable" in server.log_path.read_text()


def test_records_past_the_audit_buffer_are_dropped_counted_and_logged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"ATOMS_AUDIT_BUFFER_BYTES": "4096"}
    with small_tmpfs(data / "audit", "1m") as audit_dir, running_server(data, env=env) as server:
        client = StreamClient(server.url, server.token(), "canvas:bounded")
        assert client.post(patch(client.stream, "/a", 0, command_id="before")).status_code == 202
        filler = fill(audit_dir)
        ids = [f"b-{i}" for i in range(60)]  # ~350 bytes of record each: far more than 4 KiB
        for i, command_id in enumerate(ids):
            assert client.post(patch(client.stream, f"/k{i}", i, command_id=command_id)).status_code == 202
        dropped = metric(server.url, "atoms_audit_dropped_total")
        assert dropped >= 1
        filler.unlink()
        _wait_ready(server)
        server.stop()
        written = _accepted_ids(server)
        assert len(written) + dropped == 1 + len(ids)
        assert written == ["before", *ids][:len(written)]  # the kept ones are the oldest, in order
        log = server.log_path.read_text()
        assert "audit records dropped" in log
        assert f"{int(dropped)} audit records were dropped since the last write" in log


def test_sigkill_right_after_202s_loses_no_audit_record(tmp_path: Path) -> None:
    server = AtomsServer(tmp_path / "data").start()
    try:
        client = StreamClient(server.url, server.token(), "canvas:killed")
        ids = [f"k-{i}" for i in range(30)]
        for i, command_id in enumerate(ids):
            assert client.post(patch(client.stream, f"/k{i}", i, command_id=command_id)).status_code == 202
        server.kill()  # SIGKILL at once: no flush timer, no shutdown
        assert _accepted_ids(server) == ids
    finally:
        server.stop()


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
