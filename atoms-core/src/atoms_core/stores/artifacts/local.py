"""LocalArtifactStore: the embedded default, a content-addressed store in the data dir.

Layout per tenant: ``<root>/<tenant>/blobs/<sha256>`` (bytes, written only after verification; an
artifact of a stream under ``blobs/streams/<kind>/<id>/<sha256>``) and
``<root>/<tenant>/meta/<artifact_id>.json`` (records). Uploads stream to a temporary file and are
renamed into place only when their size and sha256 match the registration.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from atoms_core.protocol.artifacts import (
    ArtifactRecord,
    ArtifactSpec,
    SignedUrl,
    blob_name,
    mismatch,
    tenant_prefix,
)
from atoms_core.protocol.signing import UrlSigner
from atoms_core.protocol.timeline import Partition

DEFAULT_URL_TTL_S = 300


def _write_atomic(path: Path, chunks: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class LocalArtifactStore:
    #: The disk (ENOSPC, EIO, permissions) and records that no longer parse.
    faults: tuple[type[Exception], ...] = (OSError, ValueError)

    def __init__(self, root: Path, signer: UrlSigner | None = None) -> None:
        """Without a signer, URLs are signed with a random key: valid only in this process."""
        self.root = root
        self.signer = signer or UrlSigner(secrets.token_urlsafe(32), DEFAULT_URL_TTL_S)

    def _tenant(self, tenant: str) -> Path:
        return self.root / tenant_prefix(tenant)

    def blob_path(self, tenant: str, record: ArtifactRecord) -> Path:
        return self._tenant(tenant) / "blobs" / blob_name(record)

    def _meta_path(self, tenant: str, artifact_id: str) -> Path:
        return self._tenant(tenant) / "meta" / f"{artifact_id}.json"

    def _save(self, tenant: str, record: ArtifactRecord) -> None:
        _write_atomic(self._meta_path(tenant, record.artifact_id), [json.dumps(record.to_json()).encode()])

    def register(self, tenant: str, spec: ArtifactSpec) -> ArtifactRecord:
        record = ArtifactRecord.new(spec)
        if self.blob_path(tenant, record).exists():
            record = record.ready()  # content-addressed: these exact bytes are already here
        self._save(tenant, record)
        return record

    def lookup(self, tenant: str, artifact_id: str) -> ArtifactRecord | None:
        try:
            raw = self._meta_path(tenant, artifact_id).read_bytes()
        except FileNotFoundError:
            return None
        return ArtifactRecord.from_json(json.loads(raw))

    async def receive(self, tenant: str, record: ArtifactRecord, chunks: AsyncIterator[bytes]) -> ArtifactRecord:
        """Stream an upload to disk, verify size and sha256, then move it into place (else keep nothing)."""
        folder = self.blob_path(tenant, record).parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > record.size:
                        raise mismatch(record, size, None)
                    digest.update(chunk)
                    handle.write(chunk)
            if size != record.size or digest.hexdigest() != record.sha256:
                raise mismatch(record, size, digest.hexdigest())
            os.replace(tmp, self.blob_path(tenant, record))
        except BaseException:
            os.unlink(tmp)
            raise
        ready = record.ready()
        self._save(tenant, ready)
        return ready

    def _signed(self, method: str, tenant: str, record: ArtifactRecord, base_url: str) -> SignedUrl:
        token, expires_at = self.signer.sign(method, record.artifact_id, tenant)
        return SignedUrl(f"{base_url}v1/artifacts/{record.artifact_id}/content?token={token}", expires_at)

    def upload_target(self, tenant: str, record: ArtifactRecord, base_url: str) -> SignedUrl:
        target = self._signed("PUT", tenant, record, base_url)
        return SignedUrl(target.url, target.expires_at, {"Content-Type": record.mime})

    def download_url(self, tenant: str, record: ArtifactRecord, base_url: str) -> SignedUrl:
        return self._signed("GET", tenant, record, base_url)

    def put_snapshot(self, partition: Partition, record: ArtifactRecord, blob: bytes) -> None:
        path = self.blob_path(partition.tenant_id, record)
        if not path.exists():
            _write_atomic(path, [blob])
        self._save(partition.tenant_id, record)
