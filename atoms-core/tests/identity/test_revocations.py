"""``POST /v1/revocations`` over real HTTP, SSE and WebSocket: who may revoke, what is refused after,
open connections closing within a second, one-``jti`` revocations, restarts and ``atoms revoke``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from identity.live_links import open_sse, open_ws, ticket
from servers import AtomsServer, running_server
from streams_api import problem

STREAM = "canvas:revoke"


def revoke(server: AtomsServer, token: str | None, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{server.url}/v1/revocations", json=body, headers=headers)


def state(server: AtomsServer, **auth: str) -> httpx.Response:
    url = f"{server.url}/v1/streams/{STREAM}/state"
    if "token" in auth:
        return httpx.get(url, headers={"Authorization": f"Bearer {auth['token']}"})
    return httpx.get(url, params=auth)


def test_only_an_admin_of_the_tenant_may_revoke_and_refusals_change_nothing(server: AtomsServer) -> None:
    alice = server.token(principal="alice")
    problem(revoke(server, None, {"principal_id": "alice"}), 401, "unauthenticated")
    problem(revoke(server, "not.a.jwt", {"principal_id": "alice"}), 401, "invalid_token")
    problem(revoke(server, server.token(principal="bob"), {"principal_id": "alice"}), 403, "not_granted")
    problem(revoke(server, ticket(server, server.token(principal="root", roles="admin"), STREAM, ["read"]),
                   {"principal_id": "alice"}), 401, "unauthenticated")
    admin = server.token(principal="root", roles="admin")
    problem(revoke(server, admin, {"principal_id": ""}), 422, "validation_failed")
    problem(revoke(server, admin, {"principal_id": "alice", "extra": 1}), 422, "validation_failed")
    problem(revoke(server, admin, {"principal_id": " alice"}), 422, "validation_failed")
    problem(revoke(server, admin, [1]), 422, "validation_failed")
    # another tenant's admin revokes its own alice, not acme's
    assert revoke(server, server.token(tenant="other", principal="root", roles="admin"),
                  {"principal_id": "alice"}).status_code == 201
    assert state(server, token=alice).status_code == 200


def test_revoked_credentials_are_refused_and_connections_close_within_a_second(server: AtomsServer) -> None:
    alice = server.token(principal="alice")
    bob = server.token(principal="bob")
    alice_read = ticket(server, alice, STREAM, ["read"])

    async def main() -> None:
        sse = await open_sse(server, STREAM, alice_read)
        sse_bearer = await open_sse(server, STREAM, token=alice)
        ws = await open_ws(server, STREAM, ticket(server, alice, STREAM, ["presence"]))
        ws_bearer = await open_ws(server, STREAM, token=alice)  # the identity on the handshake, no ticket
        bob_sse = await open_sse(server, STREAM, ticket(server, bob, STREAM, ["read"]))
        await asyncio.sleep(0.2)
        response = await asyncio.to_thread(revoke, server, server.token(principal="root", roles="admin"),
                                           {"principal_id": "alice"})
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["tenant_id"], body["principal_id"], body["jti"]) == ("acme", "alice", None)
        assert await sse.ended(1.0) < 1.0
        assert await sse_bearer.ended(1.0) < 1.0
        assert await ws.ended(1.0) < 1.0
        assert (ws.close_code, ws.close_reason) == (4003, "token_revoked")
        assert await ws_bearer.ended(1.0) < 1.0
        assert (ws_bearer.close_code, ws_bearer.close_reason) == (4003, "token_revoked")
        assert not bob_sse.task.done()  # type: ignore[union-attr]
        await bob_sse.close()
    asyncio.run(main())

    problem(state(server, token=alice), 401, "token_revoked")
    problem(state(server, ticket=alice_read), 401, "token_revoked")
    problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM},
                       headers={"Authorization": f"Bearer {alice}"}), 401, "token_revoked")
    assert state(server, token=bob).status_code == 200
    time.sleep(1.1)  # tokens carry whole-second iat: one issued in the revocation's second is refused too
    fresh = server.token(principal="alice")
    assert state(server, token=fresh).status_code == 200

    server.restart()
    problem(state(server, token=alice), 401, "token_revoked")
    assert state(server, token=fresh).status_code == 200


def test_revoking_one_jti_ends_only_that_ticket(server: AtomsServer) -> None:
    import jwt

    carol = server.token(principal="carol")
    first, second = ticket(server, carol, STREAM, ["read"]), ticket(server, carol, STREAM, ["read"])
    jti = jwt.decode(first, options={"verify_signature": False})["jti"]

    async def main() -> None:
        one, other = await open_sse(server, STREAM, first), await open_sse(server, STREAM, second)
        response = await asyncio.to_thread(revoke, server, server.token(principal="root", roles="admin"),
                                           {"principal_id": "carol", "jti": jti})
        assert response.status_code == 201 and response.json()["jti"] == jti
        assert await one.ended(1.0) < 1.0
        await asyncio.sleep(0.3)
        assert not other.task.done()  # type: ignore[union-attr]
        await other.close()
    asyncio.run(main())
    problem(state(server, ticket=first), 401, "token_revoked")
    assert state(server, ticket=second).status_code == 200
    assert state(server, token=carol).status_code == 200


def test_atoms_revoke_against_a_running_server(server: AtomsServer) -> None:
    dave = server.token(principal="dave")
    assert state(server, token=dave).status_code == 200
    out = server.cli("revoke", "dave", "--url", server.url, "--data-dir", str(server.data_dir), "--tenant", "acme")
    assert '"principal_id": "dave"' in out
    problem(state(server, token=dave), 401, "token_revoked")


def test_a_fresh_bearer_stream_outlives_an_older_revocation_and_a_restart_reload(server: AtomsServer) -> None:
    admin = server.token(principal="root", roles="admin")
    assert revoke(server, admin, {"principal_id": "erin"}).status_code == 201
    time.sleep(1.1)
    fresh = server.token(principal="erin")

    async def main() -> None:
        link = await open_sse(server, STREAM, token=fresh)
        # another principal's revocation and a one-jti revocation of erin's leave this stream open
        for body in ({"principal_id": "frank"}, {"principal_id": "erin", "jti": "some-other-ticket"}):
            response = await asyncio.to_thread(revoke, server, admin, body)
            assert response.status_code == 201
        await asyncio.sleep(0.5)
        assert not link.task.done()  # type: ignore[union-attr]
        await link.close()
    asyncio.run(main())


def test_a_tenant_holds_a_bounded_number_of_revocations(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", env={"ATOMS_REVOCATIONS_PER_TENANT": "3"}) as server:
        admin = server.token(principal="root", roles="admin")
        bob = server.token(principal="bob")
        for i in range(3):
            assert revoke(server, admin, {"principal_id": "alice", "jti": f"j{i}"}).status_code == 201
        problem(revoke(server, admin, {"principal_id": "alice", "jti": "j3"}), 409, "too_many_revocations")
        problem(revoke(server, admin, {"principal_id": "bob"}), 409, "too_many_revocations")
        assert state(server, token=bob).status_code == 200  # the refused revocation changed nothing
        assert revoke(server, admin, {"principal_id": "alice", "jti": "j0"}).status_code == 201  # held already
        other = server.token(tenant="other", principal="root", roles="admin")
        assert revoke(server, other, {"principal_id": "bob"}).status_code == 201  # the bound is per tenant
        server.restart()  # counts come back from the store: still full
        problem(revoke(server, admin, {"principal_id": "alice", "jti": "j4"}), 409, "too_many_revocations")
        assert state(server, token=bob).status_code == 200


def test_oversized_or_split_revocation_bodies_are_refused_and_revoke_nothing(server: AtomsServer) -> None:
    alice = server.token(principal="alice")
    admin = server.token(principal="root", roles="admin")
    problem(revoke(server, admin, {"principal_id": "alice", "jti": "j" * 257}), 422, "validation_failed")
    problem(revoke(server, admin, {"principal_id": "a" * 257}), 422, "validation_failed")
    body = b'{"principal_id": "alice"' + b" " * 4096 + b"}"  # valid JSON that would revoke alice
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    problem(httpx.post(f"{server.url}/v1/revocations", content=body, headers=headers), 413, "body_too_large")

    def pieces() -> Iterator[bytes]:  # chunked, no Content-Length, split across reads
        yield b'{"principal_id": "alice"'
        for _ in range(5):
            yield b" " * 1024
        yield b"}"

    problem(httpx.post(f"{server.url}/v1/revocations", content=pieces(), headers=headers), 413, "body_too_large")
    assert state(server, token=alice).status_code == 200  # nothing was revoked
    server.restart()  # nor recorded: a reload revokes nothing either
    assert state(server, token=alice).status_code == 200
