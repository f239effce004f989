"""The artifact contract, run against every backend (embedded store and S3 on moto) over real HTTP:
upload → register → reference in a state.patch → resolve to a URL → fetch the same bytes."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from artifact_api import ArtifactClient, png, spec

from servers import AtomsServer
from streams_api import command, patch


@pytest.fixture
def acme(backend_server: AtomsServer) -> Iterator[ArtifactClient]:
    client = ArtifactClient(backend_server, "acme")
    yield client
    client.close()


def stream() -> str:
    return f"canvas:art-{uuid.uuid4().hex[:10]}"


def test_bytes_round_trip_through_a_state_patch(acme: ArtifactClient) -> None:
    blob = png()
    registered = acme.register(blob)
    assert registered["status"] == "pending" and registered["size"] == len(blob)
    assert registered["ref"] == {"artifact_id": registered["artifact_id"],
                                 "uri": f"artifact://{registered['artifact_id']}"}
    assert acme.upload(registered, blob).status_code == 200

    s = stream()
    media = {"kind": "image", "mime": "image/png", "ref": registered["ref"], "size": len(blob),
             "sha256": registered["sha256"]}
    assert acme.command(s, patch(s, "/hero", media)).status_code == 202

    ref = acme.state(s)["state"]["hero"]["ref"]
    resolved = acme.resolve(ref["artifact_id"])
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["status"] == "ready" and body["mime"] == "image/png" and body["expires_at"]
    fetched = acme.fetch(body["url"])
    assert fetched.status_code == 200
    assert fetched.content == blob
    assert fetched.headers["content-type"] == "image/png"


def test_snapshot_ref_resolves_like_any_other(acme: ArtifactClient) -> None:
    s = stream()
    acme.command(s, patch(s, "/title", "snap me"))
    assert acme.command(s, command(s, "snapshot.create", {})).status_code == 202
    created = acme.history(s)[-1]
    assert created["type"] == "snapshot_created"
    resolved = acme.resolve(created["data"]["ref"]["artifact_id"]).json()
    assert resolved["status"] == "ready" and resolved["mime"] == "application/json"
    raw = acme.fetch(resolved["url"]).content
    assert hashlib.sha256(raw).hexdigest() == created["data"]["sha256"] == resolved["sha256"]
    assert json.loads(raw) == {"title": "snap me"}


def test_mismatching_upload_is_never_served(acme: ArtifactClient) -> None:
    blob = png()
    registered = acme.register(blob)
    forged = bytes([blob[0] ^ 1]) + blob[1:]
    upload = acme.upload(registered, forged)
    if upload.status_code != 200:  # embedded store: verified while streaming
        assert upload.status_code == 422 and upload.json()["code"] == "artifact_mismatch"
        resolved = acme.resolve(registered["artifact_id"])
    else:  # S3 without checksum enforcement (moto): verified on first resolve
        resolved = acme.resolve(registered["artifact_id"])
        assert resolved.status_code == 422 and resolved.json()["code"] == "artifact_mismatch"
        resolved = acme.resolve(registered["artifact_id"])
    assert resolved.status_code == 200 and resolved.json()["status"] == "pending"
    assert resolved.json()["url"] is None
    # the registration still accepts the right bytes afterwards
    assert acme.upload(registered, blob).status_code == 200
    assert acme.fetch(acme.resolve(registered["artifact_id"]).json()["url"]).content == blob


def test_another_tenants_artifact_is_not_found(acme: ArtifactClient, backend_server: AtomsServer) -> None:
    blob = png(512)
    registered = acme.register(blob)
    acme.upload(registered, blob)
    globex = ArtifactClient(backend_server, "globex")
    try:
        response = globex.resolve(registered["artifact_id"])
        assert response.status_code == 404 and response.json()["code"] == "not_found"
        assert acme.resolve(registered["artifact_id"]).status_code == 200
    finally:
        globex.close()


@pytest.mark.parametrize(("path", "status"), [
    ("...", 400), ("a.json", 400), ("%2e%2e", 400), ("..%2F..%2Fsecrets%2Fticket.key", 404),
    ("-leading-dash", 400), ("x" * 129, 400),
])
def test_artifact_ids_are_validated(acme: ArtifactClient, path: str, status: int) -> None:
    response = acme.http.get(f"/v1/artifacts/{path}")
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("body", "status", "code", "pointer"), [
    ({"mime": "image/png", "size": 10, "sha256": "zz"}, 422, "validation_failed", "/sha256"),
    ({"mime": "not a type", "size": 10, "sha256": "a" * 64}, 422, "validation_failed", "/mime"),
    ({"mime": "image/png", "size": -1, "sha256": "a" * 64}, 422, "validation_failed", "/size"),
    ({"mime": "image/png", "size": 10, "sha256": "a" * 64, "bytes": "AAAA"}, 422, "validation_failed", "/bytes"),
    ({"mime": "video/mp4", "size": 51 * 1024 * 1024, "sha256": "a" * 64}, 413, "body_too_large", None),
])
def test_registration_is_validated(acme: ArtifactClient, body: dict[str, object], status: int, code: str,
                                   pointer: str | None) -> None:
    response = acme.http.post("/v1/artifacts", json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json().get("pointer") == pointer


def test_artifact_routes_need_an_identity(acme: ArtifactClient, backend_server: AtomsServer) -> None:
    registered = acme.register(png(64))
    assert acme.bare.post(f"{backend_server.url}/v1/artifacts", json=spec(png(64))).status_code == 401
    assert acme.bare.get(f"{backend_server.url}/v1/artifacts/{registered['artifact_id']}").status_code == 401


#: A tenant name the storage scheme could not use as it is, and the folder the old scheme gave it,
#: itself a well-formed tenant id: two tenants that once shared one storage name.
UNSAFE_TENANT = "Acme Corp"
DIGEST_TWIN = "sha256-" + hashlib.sha256(UNSAFE_TENANT.encode()).hexdigest()
#: Distinct tenants whose names are close: each keeps its own records and bytes.
NEAR_TWINS = [("acme", "Acme"), ("a.b", "a_b"), ("acme", "acme.ndjson"), ("acme", "acme-meta")]


def test_no_two_tenants_share_artifact_storage(backend_server: AtomsServer) -> None:
    for tenant in (UNSAFE_TENANT, DIGEST_TWIN):  # refused at the door, so neither can read the other
        response = httpx.post(f"{backend_server.url}/v1/artifacts", json=spec(png(100)),
                              headers={"Authorization": f"Bearer {backend_server.token(tenant)}"})
        assert response.status_code == 401 and response.json()["code"] == "invalid_token", (tenant, response.text)
    for first, second in NEAR_TWINS:
        mine, theirs = ArtifactClient(backend_server, first), ArtifactClient(backend_server, second)
        try:
            blob = png(500)
            registered = mine.register(blob)
            assert mine.upload(registered, blob).status_code == 200
            assert mine.resolve(registered["artifact_id"]).json()["status"] == "ready"
            assert theirs.resolve(registered["artifact_id"]).status_code == 404, (first, second)
            # the same bytes are not "already stored" for another tenant: nothing tells it they exist
            assert theirs.register(blob)["status"] == "pending"
        finally:
            mine.close()
            theirs.close()
