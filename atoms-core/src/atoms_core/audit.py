"""DatasetEvent sink: one NDJSON audit log per tenant in the data dir, and its export.

Records are buffered and flushed every ``FLUSH_S`` seconds (and on shutdown), so the hot path pays
for a list append, not a write syscall.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from atoms_core.errors import AtomsError
from atoms_core.identity.principal import storage_name
from atoms_core.realtime.contracts import CommandEnvelope, DatasetEvent
from atoms_core.realtime.encoding import dumps, now_iso
from atoms_core.realtime.timeline import Partition

FLUSH_S = 0.5


def tenant_file(root: Path, tenant: str) -> Path:
    return root / f"{storage_name(tenant)}.ndjson"


def digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(dumps(value).encode()).hexdigest()


class AuditLog:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._pending: dict[str, list[str]] = {}
        # Unique ids without a random draw per record: a per-process prefix plus a counter.
        self._id_prefix = uuid.uuid4().hex[:12] + "-"
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    def record(self, tenant: str, kind: str, stream: str | None = None, actor: str | None = None,
               command_id: str | None = None, seq: int | None = None, reason: str | None = None,
               payload: Any = None) -> None:
        event = {
            "id": f"{self._id_prefix}{next(self._ids)}", "ts": now_iso(), "tenant": tenant, "stream": stream,
            "kind": kind,
            "actor": actor, "command_id": command_id, "seq": seq, "reason": reason,
            "payload_digest": digest(payload) if payload is not None else None,
        }
        self._pending.setdefault(tenant, []).append(dumps(event))

    # CommandObserver
    def accepted(self, partition: Partition, actor: str, command: CommandEnvelope, seq: int) -> None:
        self.record(partition.tenant_id, "command.accepted", partition.stream_id, actor, command.command_id,
                    seq, payload=command.payload)

    def refused(self, partition: Partition, actor: str, command: CommandEnvelope | None,
                error: AtomsError) -> None:
        self.record(partition.tenant_id, "command.refused", partition.stream_id, actor,
                    command.command_id if command else None, reason=error.code,
                    payload=command.payload if command else None)

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        self.root.mkdir(parents=True, exist_ok=True)
        for tenant, lines in pending.items():
            with tenant_file(self.root, tenant).open("a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.flush()


def export(root: Path, tenant: str, since: str | None = None) -> Iterator[DatasetEvent]:
    path = tenant_file(root, tenant)
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                event = DatasetEvent.model_validate_json(line)
                if since is None or event.ts >= since:
                    yield event
