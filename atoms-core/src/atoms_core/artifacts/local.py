"""LocalArtifactStore: a content-addressed store in the data dir, one folder per tenant."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from atoms_core.audit import tenant_file
from atoms_core.realtime.timeline import Partition


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def tenant_dir(self, tenant: str) -> Path:
        return self.root / tenant_file(Path(), tenant).stem

    def put_bytes(self, tenant: str, blob: bytes) -> tuple[str, int]:
        """Store ``blob`` under its sha256 (atomic rename); return ``(sha256, size)``."""
        sha = hashlib.sha256(blob).hexdigest()
        folder = self.tenant_dir(tenant)
        path = folder / sha
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(tmp, path)
        return sha, len(blob)

    def put_snapshot(self, partition: Partition, blob: bytes) -> dict[str, Any]:
        sha, size = self.put_bytes(partition.tenant_id, blob)
        return {"ref": {"artifact_id": sha, "uri": f"artifact://{sha}"}, "size": size, "sha256": sha}
