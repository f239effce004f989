"""Sidecar artifacts (contract §9): the registry, its local and S3 backends, and their routes."""

from __future__ import annotations

from atoms_core.artifacts.registry import ArtifactStore
from atoms_core.config.settings import Settings
from atoms_core.config.vault import VaultLoader


def create_artifact_store(settings: Settings, loader: VaultLoader, ticket_key: str) -> ArtifactStore:
    """S3 when ``s3_bucket`` is set, else the embedded store in the data dir (import inside the branch)."""
    if settings.s3_bucket:
        from atoms_core.artifacts.s3 import S3ArtifactStore, s3_client

        return S3ArtifactStore(s3_client(settings, loader), settings.s3_bucket, settings.artifact_url_ttl_s)
    from atoms_core.artifacts.local import LocalArtifactStore
    from atoms_core.artifacts.signing import UrlSigner

    return LocalArtifactStore(settings.data_dir / "artifacts", UrlSigner(ticket_key, settings.artifact_url_ttl_s))
