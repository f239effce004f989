"""Test helpers for the artifact routes over real HTTP, and the moto S3 endpoint they may sit on."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
from botocore.config import Config

from servers import AtomsServer

#: Credentials reach the server as ``secret://env/...`` references, resolved by its VaultLoader.
S3_KEY_ENV = {"MOTO_TEST_S3_KEY": "moto-key", "MOTO_TEST_S3_SECRET": "moto-secret"}


@dataclass(frozen=True)
class MotoS3:
    endpoint: str
    bucket: str

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=S3_KEY_ENV["MOTO_TEST_S3_KEY"],
                            aws_secret_access_key=S3_KEY_ENV["MOTO_TEST_S3_SECRET"],
                            config=Config(s3={"addressing_style": "path"}))

    def server_env(self) -> dict[str, str]:
        return {
            **S3_KEY_ENV,
            "ATOMS_S3_BUCKET": self.bucket,
            "ATOMS_S3_ENDPOINT_URL": self.endpoint,
            "ATOMS_S3_REGION": "us-east-1",
            "ATOMS_S3_ACCESS_KEY_ID": "secret://env/MOTO_TEST_S3_KEY",
            "ATOMS_S3_SECRET_ACCESS_KEY": "secret://env/MOTO_TEST_S3_SECRET",
        }

    def keys(self, prefix: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))


def png(size: int = 4096) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8)


def spec(blob: bytes, mime: str = "image/png") -> dict[str, Any]:
    return {"mime": mime, "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}


class ArtifactClient:
    """One tenant's identity on one server; uploads and downloads go out without that header, like
    a browser following a signed URL."""

    def __init__(self, server: AtomsServer, tenant: str = "acme") -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30,
                                 headers={"Authorization": f"Bearer {server.token(tenant)}"})
        self.bare = httpx.Client(timeout=30)

    def close(self) -> None:
        self.http.close()
        self.bare.close()

    def register(self, blob: bytes, mime: str = "image/png") -> dict[str, Any]:
        response = self.http.post("/v1/artifacts", json=spec(blob, mime))
        assert response.status_code == 201, response.text
        return dict(response.json())

    def upload(self, registered: dict[str, Any], blob: bytes) -> httpx.Response:
        target = registered["upload"]
        assert target["method"] == "PUT"
        return self.bare.put(target["url"], content=blob, headers=target["headers"])

    def resolve(self, artifact_id: str) -> httpx.Response:
        return self.http.get(f"/v1/artifacts/{artifact_id}")

    def fetch(self, url: str) -> httpx.Response:
        return self.bare.get(url)

    def command(self, stream: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"/v1/streams/{stream}/commands", json=body)

    def state(self, stream: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/streams/{stream}/state")
        response.raise_for_status()
        return dict(response.json())

    def history(self, stream: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/v1/streams/{stream}/history")
        response.raise_for_status()
        return list(response.json()["events"])
