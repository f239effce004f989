"""The embedded artifact store: content-addressed on disk, streamed uploads verified before they are kept,
and signed URLs bound to one artifact, one method, one tenant and a short expiry."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from artifact_api import ArtifactClient, png, spec

from atoms_core.protocol.errors import Unauthorized
from atoms_core.protocol.signing import UrlSigner
from filesystems import fill, small_tmpfs
from servers import AtomsServer, running_server


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


def test_signed_urls_behind_the_proxy_use_its_scheme_and_host(acme: ArtifactClient) -> None:
    """Behind the nginx of deploy.md, on loopback: URLs built from the request take ``X-Forwarded-Proto``
    and the ``Host`` it forwards (uvicorn's proxy headers, trusted from 127.0.0.1 by default)."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7", "Host": "atoms.example.com"}
    response = acme.http.post("/v1/artifacts", json=spec(png(300)), headers=forwarded)
    assert response.status_code == 201, response.text
    assert response.json()["upload"]["url"].startswith("https://atoms.example.com/v1/artifacts/")


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


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "store_unavailable" and response.headers["retry-after"]


def test_full_disk_is_503_and_keeps_nothing_then_recovers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with small_tmpfs(data / "artifacts", "64k") as disk, running_server(data) as server:
        client = ArtifactClient(server, "acme")
        try:
            small = png(1000)
            kept = client.register(small)
            assert client.upload(kept, small).status_code == 200
            big = png(256 * 1024)
            registered = client.register(big)
            _unavailable(client.upload(registered, big))  # ENOSPC mid-upload
            leftovers = [p.name for p in disk.rglob("*") if p.name.startswith(".")]
            assert leftovers == [] and client.resolve(registered["artifact_id"]).json()["status"] == "pending"
            filler = fill(disk)
            _unavailable(client.http.post("/v1/artifacts", json=spec(png(500))))  # no room for the record
            _unavailable(client.http.put(f"/v1/artifacts/{registered['artifact_id']}/content", content=big))
            ready = client.resolve(kept["artifact_id"]).json()  # reads still work on a full disk
            assert client.fetch(ready["url"]).content == small
            filler.unlink()
            assert client.http.post("/v1/artifacts", json=spec(png(500))).status_code == 201
        finally:
            client.close()
