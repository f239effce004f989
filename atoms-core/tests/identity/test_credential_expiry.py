"""Connections live no longer than their credentials: a stream or socket opened with a ticket or an
identity token ends at its expiry plus ``jwt_leeway_s`` (0 s here, 2 s on a server of its own), over
real HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from identity.live_links import open_sse, open_ws, ticket
from servers import AtomsServer, running_server

STREAM = "canvas:expiry"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    with running_server(tmp_path_factory.mktemp("expiry") / "data", env={"ATOMS_JWT_LEEWAY_S": "0"}) as srv:
        yield srv


def test_sse_with_a_ticket_ends_when_the_ticket_expires(server: AtomsServer) -> None:
    async def main() -> None:
        link = await open_sse(server, STREAM, ticket(server, server.token(), STREAM, ["read"], ttl_s=2))
        assert await link.ended(6) < 3.5  # exp has whole seconds: at most 2 s, and never much later
    asyncio.run(main())


def test_sse_with_an_identity_token_ends_when_the_token_expires(server: AtomsServer) -> None:
    async def main() -> None:
        link = await open_sse(server, STREAM, token=server.token(ttl=2))
        assert await link.ended(6) < 3.5
    asyncio.run(main())


def test_ws_closes_with_4001_when_its_ticket_expires(server: AtomsServer) -> None:
    async def main() -> None:
        link = await open_ws(server, STREAM, ticket(server, server.token(), STREAM, ["presence"], ttl_s=2))
        assert await link.ended(6) < 3.5
        assert (link.close_code, link.close_reason) == (4001, "credentials_expired")
    asyncio.run(main())


def test_ws_with_an_identity_token_closes_with_4001_when_the_token_expires(server: AtomsServer) -> None:
    """A socket opened with a bearer identity on the handshake (no ticket) lives no longer than it."""
    async def main() -> None:
        link = await open_ws(server, STREAM, token=server.token(ttl=2))
        assert await link.ended(6) < 3.5
        assert (link.close_code, link.close_reason) == (4001, "credentials_expired")
    asyncio.run(main())


def test_the_configured_leeway_extends_a_stream_past_its_ticket(tmp_path: Path) -> None:
    """With ``jwt_leeway_s`` 2 the stream ends 2 s after the ticket's ``exp``: not at it, nor much later."""
    with running_server(tmp_path / "data", env={"ATOMS_JWT_LEEWAY_S": "2"}) as leeway:
        short = ticket(leeway, leeway.token(), STREAM, ["read"], ttl_s=2)
        exp = jwt.decode(short, options={"verify_signature": False})["exp"]

        async def main() -> float:
            link = await open_sse(leeway, STREAM, short)
            await link.ended(8)
            assert link.ended_at is not None
            return time.time() - (time.monotonic() - link.ended_at)  # the end on the wall clock, like exp

        after_exp = asyncio.run(main()) - exp
    assert 1.9 < after_exp < 3.5, after_exp


def test_streams_opened_with_one_ticket_each_end_at_its_expiry(server: AtomsServer) -> None:
    """Leases due at the same second share one timer: one stream going away early must not cancel it
    for the others."""
    async def main() -> None:
        shared = ticket(server, server.token(), STREAM, ["read"], ttl_s=2)
        links = [await open_sse(server, STREAM, shared) for _ in range(3)]
        await links[0].close()  # gone before the expiry
        ends = await asyncio.gather(*(link.ended(6) for link in links[1:]))
        assert all(end < 3.5 for end in ends)
    asyncio.run(main())


def test_a_stream_ended_by_its_expiry_answers_the_request_pipelined_behind_it(server: AtomsServer) -> None:
    """HTTP/1.1 pipelining on a stream's connection: the next request waits behind the stream, and is
    answered once the stream has ended."""
    short = ticket(server, server.token(), STREAM, ["read"], ttl_s=2)
    with socket.create_connection(("127.0.0.1", server.port), timeout=6) as sock:
        sock.sendall(f"GET /v1/streams/{STREAM}/events?ticket={short} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = b""
        while b"event: state_snapshot" not in got:
            got += sock.recv(65536)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # behind the open stream
        while got.count(b"HTTP/1.1 200") < 2 or not got.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, got[-300:]
            got += chunk
    stream, _, healthz = got.rpartition(b"HTTP/1.1 200")
    assert stream.endswith(b"0\r\n\r\n"), "the stream ended with the last chunk"
    assert b"content-type: application/json" in healthz.lower()


def test_a_long_lived_ticket_keeps_its_stream_open(server: AtomsServer) -> None:
    async def main() -> None:
        link = await open_sse(server, STREAM, ticket(server, server.token(), STREAM, ["read"], ttl_s=60))
        with pytest.raises(TimeoutError):
            await link.ended(2.5)
        await link.close()
    asyncio.run(main())


def test_an_expired_ticket_is_refused_at_the_door(server: AtomsServer) -> None:
    old = ticket(server, server.token(), STREAM, ["read"], ttl_s=1)
    time.sleep(2.1)
    response = httpx.get(f"{server.url}/v1/streams/{STREAM}/events", params={"ticket": old})
    assert response.status_code == 401 and response.json()["code"] == "ticket_expired"


def test_expiry_audit_names_the_reason(server: AtomsServer) -> None:
    async def main() -> None:
        link = await open_sse(server, STREAM, ticket(server, server.token(tenant="audited"), STREAM, ["read"],
                                                     ttl_s=2))
        await link.ended(5)
    asyncio.run(main())
    deadline = time.monotonic() + 10
    while True:  # the audit log is written in the background
        out = server.cli("audit", "export", "--tenant", "audited", "--data-dir", str(server.data_dir))
        if '"sse.closed"' in out or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert '"sse.closed"' in out and "credentials_expired" in out
