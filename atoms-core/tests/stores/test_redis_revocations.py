"""Revocation across nodes: two real ``atoms serve`` on one real ``redis-server``. A revocation made on
node A closes the principal's streams and sockets on node B within a second, B refuses the revoked
tokens at once, and a node that starts later (or restarts) knows every revocation made before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from identity.live_links import open_sse, open_ws, ticket
from redis_server import Nodes, two_nodes

STREAM = "canvas:revoke-nodes"


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    with two_nodes(tmp_path) as started:
        yield started


def _code(response: httpx.Response) -> str:
    return str(response.json().get("code")) if response.status_code != 200 else "ok"


def test_a_revocation_on_one_node_closes_connections_on_the_other(nodes: Nodes) -> None:
    _, node_a, node_b = nodes
    alice = node_a.token(principal="alice")

    async def main() -> None:
        sse = await open_sse(node_b, STREAM, ticket(node_b, alice, STREAM, ["read"]))
        ws = await open_ws(node_b, STREAM, ticket(node_b, alice, STREAM, ["presence"]))
        await asyncio.sleep(0.3)
        response = await asyncio.to_thread(
            httpx.post, f"{node_a.url}/v1/revocations", json={"principal_id": "alice"},
            headers={"Authorization": f"Bearer {node_a.token(principal='root', roles='admin')}"})
        assert response.status_code == 201, response.text
        assert await sse.ended(1.0) < 1.0
        assert await ws.ended(1.0) < 1.0
        assert ws.close_code == 4003
    asyncio.run(main())

    url = f"/v1/streams/{STREAM}/state"
    headers = {"Authorization": f"Bearer {alice}"}
    assert _code(httpx.get(node_b.url + url, headers=headers)) == "token_revoked"
    assert _code(httpx.get(node_a.url + url, headers=headers)) == "token_revoked"
    node_b.restart()
    assert _code(httpx.get(node_b.url + url, headers=headers)) == "token_revoked"
    bob = node_a.token(principal="bob")
    assert _code(httpx.get(node_b.url + url, headers={"Authorization": f"Bearer {bob}"})) == "ok"
