"""Sidecar artifacts (contract §9): the registry, its local and S3 backends, and their routes."""

from __future__ import annotations

from atoms_core.config.settings import Settings
from atoms_core.config.vault import VaultLoader
from atoms_core.protocol.artifacts import ArtifactStore


def create_artifact_store(settings: Settings, loader: VaultLoader, ticket_key: str) -> ArtifactStore:
    """S3 when ``s3_bucket`` is set, else the embedded store in the data dir (import inside the branch)."""
    if settings.s3_bucket:
        from atoms_core.stores.artifacts.s3 import S3ArtifactStore, s3_client

        return S3ArtifactStore(s3_client(settings, loader), settings.s3_bucket, settings.artifact_url_ttl_s)
    from atoms_core.protocol.signing import UrlSigner
    from atoms_core.stores.artifacts.local import LocalArtifactStore

    return LocalArtifactStore(settings.data_dir / "artifacts", UrlSigner(ticket_key, settings.artifact_url_ttl_s))
