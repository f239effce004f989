"""Artifacts follow stream access, on every backend: registering needs ``write`` on the media's stream
(a stream ticket implies its own), resolving and fetching need ``read`` on it."""

from __future__ import annotations

from typing import Any

import httpx
from artifact_api import png, spec

from servers import AtomsServer


def _post(server: AtomsServer, body: dict[str, Any], token: str | None = None,
          ticket: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"ticket": ticket} if ticket else {}
    return httpx.post(f"{server.url}/v1/artifacts", json=body, headers=headers, params=params)


def _get(server: AtomsServer, artifact_id: str, token: str | None = None, ticket: str | None = None,
         content: bool = False) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"ticket": ticket} if ticket else {}
    path = f"/v1/artifacts/{artifact_id}" + ("/content" if content else "")
    return httpx.get(f"{server.url}{path}", headers=headers, params=params)


def _code(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.status_code, str(response.json()["code"])


def test_a_limited_identity_registers_and_resolves_only_on_its_streams(backend_server: AtomsServer) -> None:
    server = backend_server
    guest = server.token(principal="guest", grants={"canvas:art-own": ["read", "write"], "canvas:art-ro": ["read"]})
    blob = png()
    assert _code(_post(server, spec(blob), guest)) == (403, "not_granted")  # stream_id required for it
    assert _code(_post(server, {**spec(blob), "stream_id": "canvas:art-ro"}, guest)) == (403, "not_granted")
    assert _code(_post(server, {**spec(blob), "stream_id": "canvas:elsewhere"}, guest)) == (403, "not_granted")
    assert _code(_post(server, {**spec(blob), "stream_id": "canvas:../x"}, guest)) == (400, "invalid_stream_id")
    registered = _post(server, {**spec(blob), "stream_id": "canvas:art-own"}, guest)
    assert registered.status_code == 201 and registered.json()["stream_id"] == "canvas:art-own"
    artifact_id = registered.json()["artifact_id"]
    assert httpx.put(registered.json()["upload"]["url"], content=blob,
                     headers=registered.json()["upload"]["headers"]).status_code in (200, 204)
    assert _get(server, artifact_id, guest).json()["status"] == "ready"

    other = server.token(principal="other", grants={"canvas:art-ro": ["read", "write"]})
    assert _code(_get(server, artifact_id, other)) == (403, "not_granted")
    reader = server.token(principal="reader", roles="viewer", grants={"canvas:art-*": ["read"]})
    resolved = _get(server, artifact_id, reader)
    assert resolved.status_code == 200 and resolved.json()["url"]
    assert httpx.get(resolved.json()["url"]).content == blob
    assert _get(server, artifact_id, server.token()).status_code == 200  # no grants: the whole tenant
    assert _code(_get(server, artifact_id, server.token(tenant="globex"))) == (404, "not_found")


def test_a_stream_ticket_implies_its_stream(backend_server: AtomsServer) -> None:
    server = backend_server
    writer = server.ticket("canvas:tk-a", ["write"])
    registered = _post(server, spec(png()), ticket=writer)
    assert registered.status_code == 201 and registered.json()["stream_id"] == "canvas:tk-a"
    assert _code(_post(server, {**spec(png()), "stream_id": "canvas:tk-b"}, ticket=writer)) == (403, "wrong_stream")
    artifact_id = registered.json()["artifact_id"]
    assert _get(server, artifact_id, ticket=server.ticket("canvas:tk-a", ["read"])).status_code == 200
    assert _code(_get(server, artifact_id, ticket=server.ticket("canvas:tk-b", ["read"]))) == (403, "wrong_stream")
    assert _code(_get(server, artifact_id, ticket=writer)) == (403, "missing_scope")
    # An identity without grants registering without stream_id keeps today's tenant-wide artifact.
    plain = _post(server, spec(png()), server.token())
    assert plain.status_code == 201 and plain.json()["stream_id"] is None
    assert _get(server, plain.json()["artifact_id"], ticket=server.ticket("canvas:tk-b", ["read"])).status_code == 200


def test_the_embedded_content_route_follows_the_stream(local_server: AtomsServer) -> None:
    server = local_server
    owner = server.token(principal="owner", grants={"canvas:ct-own": ["read", "write"]})
    blob = png()
    registered = _post(server, {**spec(blob), "stream_id": "canvas:ct-own"}, owner).json()
    artifact_id = registered["artifact_id"]
    outsider = server.token(principal="outsider", grants={"canvas:ct-other": ["read", "write"]})
    put = httpx.put(f"{server.url}/v1/artifacts/{artifact_id}/content", content=blob,
                    headers={"Authorization": f"Bearer {outsider}", "Content-Type": "image/png"})
    assert _code(put) == (403, "not_granted")
    assert _get(server, artifact_id, owner).json()["status"] == "pending"  # the refused upload stored nothing
    put = httpx.put(f"{server.url}/v1/artifacts/{artifact_id}/content", content=blob,
                    headers={"Authorization": f"Bearer {owner}", "Content-Type": "image/png"})
    assert put.status_code == 200
    assert _code(_get(server, artifact_id, outsider, content=True)) == (403, "not_granted")
    assert _get(server, artifact_id, owner, content=True).content == blob


def test_knowing_a_sha256_from_another_stream_gives_no_bytes(backend_server: AtomsServer) -> None:
    """Bytes are content-addressed per stream: registering another stream's sha256 stays pending."""
    server = backend_server
    blob = png()
    owner = server.token(principal="owner", grants={"canvas:sha-a": ["read", "write"]})
    first = _post(server, {**spec(blob), "stream_id": "canvas:sha-a"}, owner).json()
    assert httpx.put(first["upload"]["url"], content=blob, headers=first["upload"]["headers"]).status_code == 200
    again = _post(server, {**spec(blob), "stream_id": "canvas:sha-a"}, owner).json()
    assert _get(server, again["artifact_id"], owner).json()["status"] == "ready"  # one stream still deduplicates
    snoop = server.token(principal="snoop", grants={"canvas:sha-b": ["read", "write"]})
    theirs = _post(server, {**spec(blob), "stream_id": "canvas:sha-b"}, snoop).json()
    assert theirs["status"] == "pending" and theirs["upload"] is not None
    resolved = _get(server, theirs["artifact_id"], snoop).json()
    assert resolved["status"] == "pending" and resolved["url"] is None
