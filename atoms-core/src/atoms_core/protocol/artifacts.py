"""The artifact registry's vocabulary: a registration request, the record kept per artifact, signed URLs,
and the ``ArtifactStore`` contract every backend (local, S3) implements."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from atoms_core.protocol.encoding import now_iso
from atoms_core.protocol.errors import BadRequest, Unprocessable
from atoms_core.protocol.principal import storage_name
from atoms_core.protocol.streams import parse_stream_id
from atoms_core.protocol.timeline import Partition

ARTIFACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
SNAPSHOT_MIME = "application/json"


class ArtifactSpec(BaseModel):
    """``POST /v1/artifacts`` body: what the client is about to upload."""

    model_config = ConfigDict(extra="forbid")

    mime: str = Field(pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    #: The stream the media belongs to: registering needs ``write`` on it, resolving ``read``.
    stream_id: str | None = None

    @field_validator("stream_id")
    @classmethod
    def _stream(cls, value: str | None) -> str | None:
        return parse_stream_id(value) if value is not None else None

    @field_validator("mime", "sha256", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """One registered artifact; ``ready`` once its bytes were verified against size and sha256."""

    artifact_id: str
    mime: str
    size: int
    sha256: str
    status: Literal["pending", "ready"]
    created_at: str
    #: None: registered before artifacts followed streams, or by an identity with no stream given.
    stream_id: str | None = None

    @classmethod
    def new(cls, spec: ArtifactSpec, artifact_id: str | None = None) -> ArtifactRecord:
        return cls(artifact_id or uuid.uuid4().hex, spec.mime, spec.size, spec.sha256, "pending", now_iso(),
                   spec.stream_id)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArtifactRecord:
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def ready(self) -> ArtifactRecord:
        return replace(self, status="ready")

    def public(self) -> dict[str, Any]:
        """The API shape: the record plus the ``ref`` a media value carries."""
        return {**self.to_json(), "ref": ref_of(self.artifact_id)}


@dataclass(frozen=True, slots=True)
class SignedUrl:
    """A short-lived URL that needs no header (so an ``<img src>`` works); uploads name their headers."""

    url: str
    expires_at: int
    headers: dict[str, str] = field(default_factory=dict)

    def expires_iso(self) -> str:
        return datetime.fromtimestamp(self.expires_at, UTC).isoformat().replace("+00:00", "Z")

    def upload_json(self) -> dict[str, Any]:
        return {"method": "PUT", "url": self.url, "headers": self.headers, "expires_at": self.expires_iso()}


class ArtifactStore(Protocol):
    """Every backend keeps records and bytes per tenant; a record of one tenant is invisible to others."""

    #: What the backend raises when it cannot be reached, is full or holds damaged data: the routes
    #: answer 503 ``store_unavailable`` (retryable), like the timeline store; anything else is a bug.
    faults: tuple[type[Exception], ...]

    def register(self, tenant: str, spec: ArtifactSpec) -> ArtifactRecord:
        """Record a new artifact (``pending``, or ``ready`` when these exact bytes are already stored)."""
        ...

    def lookup(self, tenant: str, artifact_id: str) -> ArtifactRecord | None:
        """The tenant's record, verifying uploaded bytes first if it is still pending; None if unknown.

        Raises ``artifact_mismatch`` (and forgets the bytes) when an upload does not match its record.
        """
        ...

    def upload_target(self, tenant: str, record: ArtifactRecord, base_url: str) -> SignedUrl:
        """Where the client PUTs the bytes, and the headers it must send."""
        ...

    def download_url(self, tenant: str, record: ArtifactRecord, base_url: str) -> SignedUrl:
        """A signed GET URL of a ready artifact, valid ``artifact_url_ttl_s``."""
        ...

    def put_snapshot(self, partition: Partition, record: ArtifactRecord, blob: bytes) -> None:
        """Store a state snapshot (``record = snapshot_record(blob)``) as a ready artifact.
        Blocking: the engine calls it from a worker thread."""
        ...


def ref_of(artifact_id: str) -> dict[str, str]:
    return {"artifact_id": artifact_id, "uri": f"artifact://{artifact_id}"}


def snapshot_record(blob: bytes) -> ArtifactRecord:
    """A state snapshot's artifact: its id is its sha256, so it is known before it is stored and a
    retried commit re-stores the same snapshot under the same id."""
    sha = hashlib.sha256(blob).hexdigest()
    return ArtifactRecord.new(ArtifactSpec(mime=SNAPSHOT_MIME, size=len(blob), sha256=sha), sha).ready()


def snapshot_info(record: ArtifactRecord) -> dict[str, Any]:
    return {"ref": ref_of(record.artifact_id), "size": record.size, "sha256": record.sha256}


def mismatch(record: ArtifactRecord, size: int, sha256: str | None) -> Unprocessable:
    got = f"{size} bytes" + (f" with sha256 {sha256}" if sha256 else "")
    return Unprocessable("artifact_mismatch",
                         f"uploaded {got}; registered {record.size} bytes, sha256 {record.sha256}; nothing kept",
                         expected={"size": record.size, "sha256": record.sha256})


def check_artifact_id(raw: str) -> str:
    """Artifact ids are path segments and storage keys: a strict pattern, so no traversal is possible."""
    if ARTIFACT_ID.fullmatch(raw) is None:
        raise BadRequest("bad_request", "artifact_id must match [A-Za-z0-9][A-Za-z0-9_-]{0,127}")
    return raw


def blob_name(record: ArtifactRecord) -> str:
    """Where a record's bytes live below the tenant's ``blobs/``: content-addressed per stream, so
    registering a sha256 seen on another stream never makes its bytes ready without an upload."""
    if record.stream_id is None:
        return record.sha256
    kind, _, stream = record.stream_id.partition(":")
    return f"streams/{kind}/{stream}/{record.sha256}"  # a valid id never holds "/" nor starts with "."


def tenant_prefix(tenant: str) -> str:
    """The tenant's folder/key prefix: the tenant id itself (``storage_name``), so no two tenants share one."""
    return storage_name(tenant)
