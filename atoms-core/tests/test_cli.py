"""The ``atoms`` command as a newcomer meets it: one startup line, one readable line when the data dir
or port is taken, usage errors for bad arguments, and output that survives ``| head``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from atoms_core.stores.audit import AuditLog
from servers import ATOMS, AtomsServer, running_server
from streams_api import StreamClient, patch


def atoms(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATOMS, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_serve_prints_one_startup_line_with_url_engine_and_data_dir(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as server:
        server.stop()
    lines = server.log_path.read_text().splitlines()
    startup = [line for line in lines if line.startswith("atoms: serving")]
    assert startup == [f"atoms: serving {server.url} (engine sqlite, data dir {(tmp_path / 'data').resolve()})"]
    assert not any("Uvicorn running on" in line or "Waiting for application startup" in line for line in lines)


def test_second_server_on_a_busy_data_dir_says_who_holds_it_in_one_line(server: AtomsServer) -> None:
    second = atoms("serve", "--port", "0", "--data-dir", str(server.data_dir))
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
    assert f"{server.data_dir} is in use by another atoms server" in second.stderr
    assert f"pid {server.proc.pid if server.proc else '?'}, {server.url}" in second.stderr
    assert "--data-dir" in second.stderr and "--port" in second.stderr


def test_second_server_on_a_busy_port_says_so_in_one_line(server: AtomsServer, tmp_path: Path) -> None:
    second = atoms("serve", "--port", str(server.port), "--data-dir", str(tmp_path / "other"))
    assert second.returncode == 2
    assert second.stderr == f"atoms: port {server.port} on 127.0.0.1 is in use (another server?); stop it, " \
                            "or pick another with --port\n"


@pytest.mark.parametrize(("host", "message"), [
    ("nosuchhost.invalid", "atoms: host 'nosuchhost.invalid' does not resolve ("),
    ("192.0.2.1", "atoms: cannot listen on 192.0.2.1: "),  # TEST-NET-1: no address of this machine
])
def test_serve_on_a_host_it_cannot_listen_on_says_so_in_one_line(tmp_path: Path, host: str, message: str) -> None:
    result = atoms("serve", "--host", host, "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2, result
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert "--host" in result.stderr and result.stdout == ""


def test_data_dir_is_free_again_after_the_server_stops(tmp_path: Path) -> None:
    server = AtomsServer(tmp_path / "data").start()
    server.stop()
    with running_server(tmp_path / "data"):
        pass


def write_audit(data_dir: Path, count: int) -> None:
    log = AuditLog(data_dir / "audit")
    for n in range(count):
        log.record("acme", "ticket.issued", "canvas:demo", "alice", f"c-{n}")
    log.flush()


def test_audit_export_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    write_audit(tmp_path / "data", 20_000)  # far more than a pipe buffer holds
    proc = subprocess.Popen([ATOMS, "audit", "export", "--data-dir", str(tmp_path / "data"), "--tenant", "acme"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"{")
    proc.stdout.close()  # what `| head -1` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(30) == 0
    assert stderr == ""


def test_audit_export_since_filters_by_time_and_refuses_what_is_not_a_time(tmp_path: Path) -> None:
    write_audit(tmp_path / "data", 3)
    data = str(tmp_path / "data")
    assert len(atoms("audit", "export", "--data-dir", data, "--tenant", "acme", "--since", "2000-01-01")
               .stdout.splitlines()) == 3
    later = atoms("audit", "export", "--data-dir", data, "--tenant", "acme", "--since", "2999-01-01T00:00:00+02:00")
    assert later.returncode == 0 and later.stdout == ""
    bad = atoms("audit", "export", "--data-dir", data, "--tenant", "acme", "--since", "yesterday")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "--since: 'yesterday' is not an ISO 8601 date or time" in bad.stderr


def test_audit_export_of_a_data_dir_without_a_log_says_so(tmp_path: Path) -> None:
    result = atoms("audit", "export", "--data-dir", str(tmp_path / "nothing"), "--tenant", "acme")
    assert result.returncode == 1 and "no audit log in" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["token", "--tenant", "acme", "--principal", "alice", "--ttl", "-5"], "--ttl: -5 is outside"),
    (["token", "--tenant", "acme", "--principal", "alice", "--ttl", "soon"], "--ttl: 'soon' is not a whole number"),
    (["token", "--tenant", "", "--principal", "alice"], "--tenant: '': a tenant id matches"),
    (["token", "--tenant", "acme", "--principal", " alice"], "--principal: ' alice': a principal id is"),
    (["tail", "demo"], "stream: 'demo': stream_id must be thread:<id>, canvas:<id> or run:<id>"),
    (["post", "canvas:bad id", "chat.post", "{}"], "canvas_id must match"),
    (["agent", "--stream", "canvas:demo", "--delay", "nan"], "--delay: 'nan' must be a finite number"),
    (["tail", "canvas:demo", "--url", "notaurl"], "--url: 'notaurl' is not an http(s)://host[:port] URL"),
    (["post", "canvas:demo", "log.append", "{}", "--url", "ftp://127.0.0.1:8000"], "--url: 'ftp://127.0.0.1:8000'"),
    (["agent", "--stream", "canvas:demo", "--url", "http://:8000"], "--url: 'http://:8000' is not"),
    (["revoke", "bob", "--url", "http://127.0.0.1:99999"], "--url: 'http://127.0.0.1:99999' is not"),
])
def test_bad_arguments_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = atoms(*args, "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2, result
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything ran


def test_tail_into_a_closed_pipe_ends_quietly(server: AtomsServer) -> None:
    proc = subprocess.Popen([ATOMS, "tail", "canvas:piped", "--url", server.url, "--data-dir", str(server.data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"\xc2\xb7 connected")
    proc.stdout.close()  # what `| head -1` does; like `tail -f`, it notices on its next line
    client = StreamClient(server.url, server.token("demo", "alice"), "canvas:piped")
    assert client.post(patch("canvas:piped", "/a", 1)).status_code == 202
    assert proc.wait(30) == 0
    assert proc.stderr.read() == b""


@pytest.mark.parametrize("args", [["revoke", "bob"],
                                  ["post", "canvas:demo", "chat.post", '{"role": "user", "text": "hi"}']])
def test_a_command_against_an_unreachable_server_says_so_in_one_line(tmp_path: Path, args: list[str]) -> None:
    result = atoms(*args, "--url", "http://127.0.0.1:1", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"atoms {args[0]}: network_error: ConnectError: All connection attempts failed " \
                            "(is the server at http://127.0.0.1:1 running?)\n"
