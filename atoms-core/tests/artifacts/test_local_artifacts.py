"""The embedded artifact store: content-addressed on disk, streamed uploads verified before they are kept,
and signed URLs bound to one artifact, one method, one tenant and a short expiry."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from artifact_api import ArtifactClient, png

from atoms_core.artifacts.signing import UrlSigner
from atoms_core.errors import Unauthorized
from servers import AtomsServer


@pytest.fixture
def acme(local_server: AtomsServer) -> Iterator[ArtifactClient]:
    client = ArtifactClient(local_server, "acme")
    yield client
    client.close()


def blobs(server: AtomsServer) -> list[Path]:
    folder = server.data_dir / "artifacts" / "acme" / "blobs"
    return sorted(folder.iterdir()) if folder.exists() else []


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_same_bytes_are_stored_once(acme: ArtifactClient, local_server: AtomsServer) -> None:
    blob = png(1000)
    first = acme.register(blob)
    acme.upload(first, blob)
    again = acme.register(blob)
    assert again["status"] == "ready" and again["upload"] is None
    assert again["artifact_id"] != first["artifact_id"]
    assert [p.name for p in blobs(local_server)].count(hashlib.sha256(blob).hexdigest()) == 1
    assert acme.fetch(acme.resolve(again["artifact_id"]).json()["url"]).content == blob


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_upload_keeps_nothing(acme: ArtifactClient, local_server: AtomsServer, chunked: bool) -> None:
    blob = png(2048)
    registered = acme.register(blob)
    before = blobs(local_server)
    extra = blob + b"trailing bytes"
    content = iter([extra[:1000], extra[1000:]]) if chunked else extra
    response = acme.bare.put(registered["upload"]["url"], content=content, headers=registered["upload"]["headers"])
    assert response.status_code == 422 and response.json()["code"] == "artifact_mismatch"
    assert response.json()["expected"] == {"size": len(blob), "sha256": registered["sha256"]}
    assert blobs(local_server) == before  # no blob, no leftover temporary file
    assert acme.resolve(registered["artifact_id"]).json()["status"] == "pending"


def test_signed_urls_are_bound_to_artifact_and_method(acme: ArtifactClient) -> None:
    one, two = png(300), png(300)
    first, second = acme.register(one), acme.register(two)
    assert acme.upload(first, one).status_code == 200
    put_token = token_of(second["upload"]["url"])
    get_url = acme.resolve(first["artifact_id"]).json()["url"]
    get_token = token_of(get_url)
    base = get_url.split("/v1/")[0]
    forged = get_token[:-2] + ("AA" if not get_token.endswith("AA") else "BB")
    refused = [
        acme.bare.get(f"{base}/v1/artifacts/{second['artifact_id']}/content?token={get_token}"),  # other artifact
        acme.bare.put(f"{base}/v1/artifacts/{first['artifact_id']}/content?token={get_token}", content=one),
        acme.bare.get(f"{base}/v1/artifacts/{second['artifact_id']}/content?token={put_token}"),  # PUT token
        acme.bare.get(f"{base}/v1/artifacts/{first['artifact_id']}/content?token={forged}"),
        acme.bare.get(f"{base}/v1/artifacts/{first['artifact_id']}/content?token=garbage"),
        acme.bare.get(f"{base}/v1/artifacts/{first['artifact_id']}/content"),  # no token, no identity
    ]
    assert [r.status_code for r in refused] == [401] * len(refused)
    assert all(r.json()["code"] in {"invalid_token", "unauthenticated"} for r in refused)


def test_signed_url_expires() -> None:
    signer = UrlSigner("ticket-key", ttl_s=-1)
    token, _ = signer.sign("GET", "abc", "acme")
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token, "GET", "abc")
    fresh, _ = UrlSigner("ticket-key", ttl_s=60).sign("GET", "abc", "acme")
    assert UrlSigner("ticket-key", 60).verify(fresh, "GET", "abc") == "acme"
    with pytest.raises(Unauthorized):
        UrlSigner("another-key", 60).verify(fresh, "GET", "abc")


def test_content_is_served_inert(acme: ArtifactClient) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    registered = acme.register(svg, "image/svg+xml")
    acme.upload(registered, svg)
    response = acme.fetch(acme.resolve(registered["artifact_id"]).json()["url"])
    assert response.content == svg
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["cache-control"].startswith("private")


def test_bearer_identity_may_upload_and_download_without_a_token(acme: ArtifactClient) -> None:
    blob = png(700)
    registered = acme.register(blob)
    path = f"/v1/artifacts/{registered['artifact_id']}/content"
    assert acme.http.get(path).status_code == 404  # no verified bytes yet
    assert acme.http.put(path, content=blob).json()["status"] == "ready"
    assert acme.http.get(path).content == blob
