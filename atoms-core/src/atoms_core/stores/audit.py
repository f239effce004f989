"""DatasetEvent sink: one NDJSON audit log per tenant in the data dir, and its export.

Records are buffered and written once per group commit, before its 202s go out (so an acknowledged
command's record survives a process crash like its event does), and every ``FLUSH_S`` seconds for
the rest. A write that fails (a full disk) keeps the records, byte-exact, and is retried with
backoff; while it fails the log is unhealthy (``/readyz``), and records past ``buffer_bytes`` are
dropped, counted and logged.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import itertools
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from atoms_core.protocol.contracts import CommandEnvelope, DatasetEvent
from atoms_core.protocol.encoding import dumps, now_iso
from atoms_core.protocol.errors import AtomsError
from atoms_core.protocol.principal import storage_name
from atoms_core.protocol.timeline import Partition

log = logging.getLogger("atoms.audit")

FLUSH_S = 0.5
RETRY_MAX_S = 5.0  # backoff ceiling of the retries while writes fail
STOP_RETRY_S = 3.0  # how long shutdown keeps retrying before it counts what is left as dropped
MAX_OPEN_FILES = 64  # per-tenant append handles kept open
NEWLINE = ord("\n")


def tenant_file(root: Path, tenant: str) -> Path:
    return root / f"{storage_name(tenant)}.ndjson"


def digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(dumps(value).encode()).hexdigest()


class AuditLog:
    def __init__(self, root: Path, buffer_bytes: int = 8 * 1024 * 1024) -> None:
        self.root = root
        self.buffer_bytes = buffer_bytes
        self._pending: dict[str, bytearray] = {}  # per tenant: whole lines, minus what a short write took
        self._pending_bytes = 0
        self._files: dict[str, int] = {}  # per tenant: an O_APPEND descriptor, least recently used first
        self._mid_line: set[str] = set()  # tenants whose buffer starts with the rest of a half-written line
        # Unique ids without a random draw per record: a per-process prefix plus a counter.
        self._id_prefix = uuid.uuid4().hex[:12] + "-"
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self.failure: str | None = None  # the last write error, while writes fail
        self.write_errors = 0  # failed write attempts (atoms_audit_write_errors_total)
        self.dropped = 0  # records never written (atoms_audit_dropped_total)
        self._unreported_drops = 0

    @property
    def healthy(self) -> bool:
        return self.failure is None

    def record(self, tenant: str, kind: str, stream: str | None = None, actor: str | None = None,
               command_id: str | None = None, seq: int | None = None, reason: str | None = None,
               payload: Any = None) -> None:
        event = {
            "id": f"{self._id_prefix}{next(self._ids)}", "ts": now_iso(), "tenant": tenant, "stream": stream,
            "kind": kind,
            "actor": actor, "command_id": command_id, "seq": seq, "reason": reason,
            "payload_digest": digest(payload) if payload is not None else None,
        }
        line = (dumps(event) + "\n").encode()
        if self._pending_bytes + len(line) > self.buffer_bytes:
            self._drop(1, f"the audit buffer ({self.buffer_bytes} bytes) is full")
            return
        pending = self._pending.get(tenant)
        if pending is None:
            pending = self._pending[tenant] = bytearray()
        pending += line
        self._pending_bytes += len(line)

    # CommandObserver
    def accepted(self, partition: Partition, actor: str, command: CommandEnvelope, seq: int) -> None:
        self.record(partition.tenant_id, "command.accepted", partition.stream_id, actor, command.command_id,
                    seq, payload=command.payload)

    def refused(self, partition: Partition, actor: str, command: CommandEnvelope | None,
                error: AtomsError) -> None:
        self.record(partition.tenant_id, "command.refused", partition.stream_id, actor,
                    command.command_id if command else None, reason=error.code,
                    payload=command.payload if command else None)

    def committed(self) -> None:
        """Before a group's replies go out. While writes fail, the retry loop alone tries (with backoff)."""
        if self.failure is None:
            self.flush()

    def flush(self) -> bool:
        """Write every buffered record; on an error keep the rest exactly (no torn or repeated line)."""
        try:
            for tenant in list(self._pending):
                pending = self._pending[tenant]
                fd = self._file(tenant)
                while pending:
                    written = os.write(fd, pending)
                    if not written:
                        raise OSError(errno.EIO, "no progress writing the audit log")
                    if pending[written - 1] == NEWLINE:
                        self._mid_line.discard(tenant)
                    else:  # a short write: the rest of the line goes on at the retry
                        self._mid_line.add(tenant)
                    del pending[:written]
                    self._pending_bytes -= written
                del self._pending[tenant]
        except OSError as exc:
            self.write_errors += 1
            if self.failure is None:
                log.error("audit log not writable, retrying with backoff: %s", exc)
            self.failure = str(exc)
            return False
        if self.failure is not None:
            log.warning("audit log writable again")
            self.failure = None
        if self._unreported_drops:
            log.warning("%d audit records were dropped since the last write", self._unreported_drops)
            self._unreported_drops = 0
        return True

    def _drop(self, count: int, why: str) -> None:
        """Count records that will never be written; log the first of a run now, the total later."""
        if self._unreported_drops == 0:
            log.error("audit records dropped: %s (counted in atoms_audit_dropped_total)", why)
        self.dropped += count
        self._unreported_drops += count

    def _file(self, tenant: str) -> int:
        fd = self._files.pop(tenant, None)
        if fd is None:
            if len(self._files) >= MAX_OPEN_FILES:
                self._close(next(iter(self._files)))
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(tenant_file(self.root, tenant), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            size = os.fstat(fd).st_size
            torn = size and tenant not in self._mid_line and os.pread(fd, 1, size - 1) != b"\n"
            if torn:  # a line left half-written by a shutdown on a full disk: start on a fresh line
                self._pending.setdefault(tenant, bytearray())[:0] = b"\n"
                self._pending_bytes += 1
        self._files[tenant] = fd
        return fd

    def _close(self, tenant: str) -> None:
        fd = self._files.pop(tenant, None)
        if fd is not None:
            os.close(fd)

    async def run(self) -> None:
        delay = FLUSH_S
        while True:
            await asyncio.sleep(delay)
            delay = FLUSH_S if self.flush() else min(delay * 2, RETRY_MAX_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        deadline, delay = time.monotonic() + STOP_RETRY_S, FLUSH_S / 5
        while not self.flush() and time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        lost = sum(pending.count(b"\n") for pending in self._pending.values())
        if lost:
            self.dropped += lost
            log.error("%d audit records not written at shutdown: %s", lost, self.failure)
            self._pending.clear()
            self._pending_bytes = 0
        for tenant in list(self._files):
            self._close(tenant)


def export(root: Path, tenant: str, since: str | None = None) -> Iterator[DatasetEvent]:
    path = tenant_file(root, tenant)
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                try:
                    event = DatasetEvent.model_validate_json(line)
                except ValueError:  # torn by a shutdown on a full disk (counted as dropped then)
                    continue
                if since is None or event.ts >= since:
                    yield event
