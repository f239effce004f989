"""S3ArtifactStore: records and bytes in an S3 bucket through plain boto3 (AWS S3, MinIO, moto alike).

Keys per tenant: ``<tenant>/blobs/<sha256>`` and ``<tenant>/meta/<artifact_id>.json``. Clients upload
with a presigned PUT that signs Content-Type, Content-Length and ``x-amz-checksum-sha256`` (S3 refuses
other bytes); the first resolve of a pending artifact re-checks size and sha256 itself, so a store that
does not enforce checksums still never serves bytes that differ from the registration.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from atoms_core.config.settings import Settings
from atoms_core.config.vault import VaultLoader
from atoms_core.protocol.artifacts import (
    SNAPSHOT_MIME,
    ArtifactRecord,
    ArtifactSpec,
    SignedUrl,
    blob_name,
    mismatch,
    tenant_prefix,
)
from atoms_core.protocol.timeline import Partition

NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
CHUNK = 1 << 20


def s3_client(settings: Settings, loader: VaultLoader) -> Any:
    """A boto3 S3 client from the ``s3_*`` settings; keys may be ``secret://`` references."""
    credentials: dict[str, str] = {}
    if settings.s3_access_key_id:
        credentials["aws_access_key_id"] = loader.resolve(settings.s3_access_key_id).reveal()
    if settings.s3_secret_access_key:
        credentials["aws_secret_access_key"] = loader.resolve(settings.s3_secret_access_key).reveal()
    config = Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"},
                    s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"})
    return boto3.client("s3", endpoint_url=settings.s3_endpoint_url or None, region_name=settings.s3_region,
                        config=config, **credentials)


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in NOT_FOUND


def checksum(sha256_hex: str) -> str:
    """S3's ``x-amz-checksum-sha256``: the base64 of the raw digest."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode()


class S3ArtifactStore:
    #: Unreachable endpoint, throttling, refused credentials, and records that no longer parse.
    faults: tuple[type[Exception], ...] = (BotoCoreError, ClientError, ValueError)

    def __init__(self, client: Any, bucket: str, ttl_s: int) -> None:
        self.client = client
        self.bucket = bucket
        self.ttl_s = ttl_s

    def _blob_key(self, tenant: str, record: ArtifactRecord) -> str:
        return f"{tenant_prefix(tenant)}/blobs/{blob_name(record)}"

    def _meta_key(self, tenant: str, artifact_id: str) -> str:
        return f"{tenant_prefix(tenant)}/meta/{artifact_id}.json"

    def _save(self, tenant: str, record: ArtifactRecord) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._meta_key(tenant, record.artifact_id),
                               Body=json.dumps(record.to_json()).encode(), ContentType="application/json")

    def register(self, tenant: str, spec: ArtifactSpec) -> ArtifactRecord:
        record = ArtifactRecord.new(spec)
        self._save(tenant, record)
        return record

    def lookup(self, tenant: str, artifact_id: str) -> ArtifactRecord | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._meta_key(tenant, artifact_id))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        record = ArtifactRecord.from_json(json.loads(response["Body"].read()))
        return record if record.status == "ready" else self._verify(tenant, record)

    def _verify(self, tenant: str, record: ArtifactRecord) -> ArtifactRecord:
        key = self._blob_key(tenant, record)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return record  # not uploaded yet
            raise
        size = int(response["ContentLength"])
        body = response["Body"]
        if size != record.size:
            body.close()
            self.client.delete_object(Bucket=self.bucket, Key=key)
            raise mismatch(record, size, None)
        digest = hashlib.sha256()
        for chunk in body.iter_chunks(CHUNK):
            digest.update(chunk)
        if digest.hexdigest() != record.sha256:
            self.client.delete_object(Bucket=self.bucket, Key=key)
            raise mismatch(record, size, digest.hexdigest())
        ready = record.ready()
        self._save(tenant, ready)
        return ready

    def upload_target(self, tenant: str, record: ArtifactRecord, base_url: str) -> SignedUrl:
        params = {"Bucket": self.bucket, "Key": self._blob_key(tenant, record), "ContentType": record.mime,
                  "ContentLength": record.size, "ChecksumSHA256": checksum(record.sha256)}
        url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=self.ttl_s)
        headers = {"Content-Type": record.mime, "x-amz-checksum-sha256": checksum(record.sha256)}
        return SignedUrl(url, int(time.time()) + self.ttl_s, headers)

    def download_url(self, tenant: str, record: ArtifactRecord, base_url: str) -> SignedUrl:
        # The registered type is served whatever the uploader sent as Content-Type.
        params = {"Bucket": self.bucket, "Key": self._blob_key(tenant, record), "ResponseContentType": record.mime}
        url = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=self.ttl_s)
        return SignedUrl(url, int(time.time()) + self.ttl_s)

    def put_snapshot(self, partition: Partition, record: ArtifactRecord, blob: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._blob_key(partition.tenant_id, record), Body=blob,
                               ContentType=SNAPSHOT_MIME, ChecksumSHA256=checksum(record.sha256))
        self._save(partition.tenant_id, record)
