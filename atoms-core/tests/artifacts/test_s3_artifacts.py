"""The S3 backend on an S3-compatible server (moto, real HTTP on loopback): bytes and records live in the
bucket under the tenant's prefix, clients talk to S3 through presigned URLs, never through Atoms."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifact_api import ArtifactClient, MotoS3, png, spec

from servers import AtomsServer, free_port, running_server
from streams_api import command


@pytest.fixture
def acme(s3_server: AtomsServer) -> Iterator[ArtifactClient]:
    client = ArtifactClient(s3_server, "acme")
    yield client
    client.close()


def test_upload_and_download_go_straight_to_the_bucket(acme: ArtifactClient, moto_s3: MotoS3) -> None:
    blob = png(3000)
    registered = acme.register(blob)
    upload = registered["upload"]
    assert upload["url"].startswith(moto_s3.endpoint + "/" + moto_s3.bucket + "/acme/blobs/")
    assert {"Content-Type", "x-amz-checksum-sha256"} <= set(upload["headers"])
    assert acme.upload(registered, blob).status_code == 200

    resolved = acme.resolve(registered["artifact_id"]).json()
    assert resolved["url"].startswith(moto_s3.endpoint) and "X-Amz-Signature=" in resolved["url"]
    assert acme.fetch(resolved["url"]).content == blob
    sha = hashlib.sha256(blob).hexdigest()
    assert f"acme/blobs/{sha}" in moto_s3.keys("acme/blobs/")
    assert f"acme/meta/{registered['artifact_id']}.json" in moto_s3.keys("acme/meta/")


def test_content_route_is_not_served_on_s3(acme: ArtifactClient) -> None:
    blob = png(100)
    registered = acme.register(blob)
    response = acme.http.get(f"/v1/artifacts/{registered['artifact_id']}/content")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_snapshots_are_written_to_the_bucket(acme: ArtifactClient, moto_s3: MotoS3) -> None:
    s = f"canvas:s3-{uuid.uuid4().hex[:8]}"
    assert acme.command(s, command(s, "snapshot.create", {})).status_code == 202
    data = acme.history(s)[-1]["data"]
    assert f"acme/blobs/{data['sha256']}" in moto_s3.keys("acme/blobs/")
    assert acme.fetch(acme.resolve(data["ref"]["artifact_id"]).json()["url"]).content == b"{}"


def test_unreachable_bucket_is_503(tmp_path: Path) -> None:
    """An S3 endpoint nobody answers on: register and resolve are retryable 503s, not 500s."""
    env = MotoS3(f"http://127.0.0.1:{free_port()}", "gone").server_env()
    with running_server(tmp_path / "data", env=env) as server:
        client = ArtifactClient(server, "acme")
        try:
            for response in (client.http.post("/v1/artifacts", json=spec(png(100))),
                             client.resolve("a" * 32)):
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["code"] == "store_unavailable"
        finally:
            client.close()
