"""Faults: SIGKILL right after 202s loses nothing; a slow reader is cut off, others keep going."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import httpx

from servers import AtomsServer, running_server
from sse_reader import collect
from streams_api import StreamClient, metric, patch


async def test_sigkill_after_202_loses_nothing_and_clients_resume(tmp_path: Path) -> None:
    server = AtomsServer(tmp_path / "data").start()
    try:
        client = StreamClient(server.url, server.token(), "canvas:crash")
        acked: list[int] = []
        async with httpx.AsyncClient(headers=client.headers) as http:
            reader = asyncio.create_task(collect(http, client.events_url, lambda g: False, timeout=60))
            await asyncio.sleep(0.3)

            async def post(i: int) -> None:
                r = await http.post(f"{client.base_url}/v1/streams/{client.stream}/commands",
                                    json=patch(client.stream, f"/k{i}", i, command_id=f"cmd-{i}"))
                assert r.status_code == 202
                acked.append(i)

            await asyncio.gather(*(post(i) for i in range(200)))
            server.kill()  # SIGKILL, no graceful anything
            with contextlib.suppress(httpx.HTTPError, TimeoutError):
                await reader
            server.start()
            state_after = client.state()
            assert state_after["seq"] == 200
            assert all(state_after["state"][f"k{i}"] == i for i in acked)
            got = await collect(http, client.events_url, lambda g: any(f.id == "200" and f.event == "state_patch"
                                                                       for f in g),
                                headers={"Last-Event-ID": "0"})
        seqs = [int(f.id) for f in got if f.event == "state_patch" and f.id]
        assert seqs == list(range(1, 201))
        rebuilt: dict[str, int] = {}
        for frame in got:
            if frame.event == "state_patch":
                op = frame.json["data"]["ops"][0]
                rebuilt[op["path"][1:]] = op["value"]
        assert rebuilt == state_after["state"]
    finally:
        server.stop()


async def test_slow_reader_is_cut_off_while_others_keep_receiving(tmp_path: Path) -> None:
    env = {"ATOMS_SSE_QUEUE_BYTES": "262144"}
    with running_server(tmp_path / "data", env=env) as server:
        assert server.proc is not None
        client = StreamClient(server.url, server.token(), "canvas:slow")
        ticket = server.ticket(client.stream, ["read"])
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", server.port))
        slow.sendall(f"GET /v1/streams/{client.stream}/events?ticket={ticket} HTTP/1.1\r\n"
                     f"Host: x\r\n\r\n".encode())
        rss_before = _rss_kb(server.proc.pid)
        blob = "x" * 60_000
        total = 300
        acked: list[int] = []  # the seqs of the patches (automatic snapshots take seqs between them)
        async with httpx.AsyncClient(headers=client.headers, timeout=30) as http:
            fast = asyncio.create_task(collect(http, client.events_url,
                                               lambda g: sum(f.event == "state_patch" for f in g) >= total,
                                               timeout=60))
            await asyncio.sleep(0.3)
            for i in range(total):
                body = patch(client.stream, f"/k{i % 5}", blob, op="add")
                response = await http.post(f"{client.base_url}/v1/streams/{client.stream}/commands", json=body)
                assert response.status_code == 202
                acked.append(response.json()["seq"])
            got = await fast
        assert [int(f.id) for f in got if f.event == "state_patch" and f.id] == acked
        assert metric(server.url, "atoms_sse_overflow_total") >= 1
        # the stuck reader's frames went through its writer task's bounded buffer, not in place
        assert metric(server.url, "atoms_sse_frames_total", 'path="queued"') >= 1
        # the slow socket was closed by the server: reading drains what was buffered, then EOF
        slow.settimeout(5)
        drained = 0
        while chunk := slow.recv(65536):
            drained += len(chunk)
        slow.close()
        assert drained < total * 60_000  # it never got everything: it was cut off
        assert _rss_kb(server.proc.pid) - rss_before < 64 * 1024  # no unbounded growth (18 MB sent)


async def test_a_reader_that_stalls_then_reads_gets_every_frame_in_order(tmp_path: Path) -> None:
    """Back-pressure that is not an overflow: while a reader does not read, the socket buffers fill,
    writing pauses and frames wait in its outbox (bounded at 32 MB here); once it reads again, writing
    resumes and everything arrives, in order, with nothing cut off."""
    with running_server(tmp_path / "data", env={"ATOMS_SSE_QUEUE_BYTES": str(32 << 20)}) as server:
        client = StreamClient(server.url, server.token(), "canvas:stall")
        ticket = server.ticket(client.stream, ["read"])
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect(("127.0.0.1", server.port))
        reader.settimeout(10)
        reader.sendall(f"GET /v1/streams/{client.stream}/events?ticket={ticket} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        body = _Dechunked(reader)
        opening = len(body.read_until(b"event: state_snapshot"))
        sent, paused_at = 0, None
        async with httpx.AsyncClient(headers=client.headers, timeout=30) as http:
            while paused_at is None or sent < paused_at + 5:  # until writing paused, then a few more
                assert sent < 60, "writing never paused (12 MB sent to a reader that does not read)"
                command = patch(client.stream, f"/k{sent % 3}", f"{sent}:" + "y" * 200_000)
                assert (await http.post(f"{client.base_url}/v1/streams/{client.stream}/commands",
                                        json=command)).status_code == 202
                sent += 1
                if paused_at is None and metric(server.url, "atoms_sse_frames_total", 'path="queued"') >= 1:
                    paused_at = sent
        got = body.read_until(f"id: {sent}\n".encode())[opening:]
        reader.close()
        ids = [int(line[4:]) for line in got.split(b"\n") if line.startswith(b"id: ")]
        assert ids == list(range(1, sent + 1))
        assert metric(server.url, "atoms_sse_overflow_total") == 0


class _Dechunked:
    """The body of a chunked HTTP/1.1 response read off a bare socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.raw, self.body = sock, b"", b""
        self._fill(b"\r\n\r\n")
        self.raw = self.raw.split(b"\r\n\r\n", 1)[1]

    def _fill(self, needle: bytes) -> None:
        while needle not in self.raw:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the stream"
            self.raw += chunk

    def read_until(self, needle: bytes) -> bytes:
        while needle not in self.body:
            self._fill(b"\r\n")
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line, 16)
            while len(rest) < size + 2:
                chunk = self.sock.recv(65536)
                assert chunk, "the server closed the stream"
                rest += chunk
            self.body += rest[:size]
            self.raw = rest[size + 2:]
        return self.body


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")
