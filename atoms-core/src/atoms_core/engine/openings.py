"""The ``state_snapshot`` frames SSE streams open (or resync) with: encoded once per (partition, seq) and
shared by every stream writing it, bounded in bytes per tenant and per process.

A snapshot frame is as large as the state (up to ``state_max_bytes``). Encoded per connection and handed
to the transport whole, it stayed in the write buffer of every client that did not read: 150 such
requests of a 4 MB state took 600 MB. Now every opener of one (partition, seq) holds the same bytes
object, which the endpoint writes a slice at a time as the transport drains (``endpoints/sse_write.py``),
so a stalled reader holds a reference to it and about one slice of its own.

Readers stalled at different seqs would still each keep a frame of their own alive, hence the budget:
the frames still being written count towards ``sse_opening_bytes`` (the process),
``sse_opening_tenant_bytes`` (each tenant, a smaller share, so one tenant cannot lock the others out) and
``sse_opening_principal_bytes`` (the principal whose opening made the frame, smaller again, so one
principal cannot lock the rest of its tenant out).
A new frame past either is refused (429 ``too_many_openings``); a lone frame always fits, so a stream
of any allowed size can be opened when nothing else is held.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from atoms_core.engine.metrics import Metrics
from atoms_core.engine.tally import Tally
from atoms_core.protocol.errors import TooManyRequests
from atoms_core.protocol.state import StreamState
from atoms_core.protocol.timeline import Partition
from atoms_core.protocol.wire import snapshot_frame

#: The frame around the state: event name, ids, seq and version (the budget is checked before encoding).
FRAME_OVERHEAD = 256


class SharedFrame:
    """One encoded ``state_snapshot`` and how many streams are still writing it."""

    __slots__ = ("data", "key", "owner", "users")

    def __init__(self, key: tuple[Partition, int, int], data: bytes, owner: tuple[str, str]) -> None:
        self.key = key
        self.data = data
        self.owner = owner  # (tenant, principal) charged for it: whose opening encoded it
        self.users = 0


class Openings:
    def __init__(self, max_bytes: int, tenant_max_bytes: int, principal_max_bytes: int, metrics: Metrics) -> None:
        self.max_bytes = max_bytes
        self.tenant_max_bytes = tenant_max_bytes
        self.principal_max_bytes = principal_max_bytes
        self.metrics = metrics
        self._frames: dict[tuple[Partition, int, int], SharedFrame] = {}
        #: Bytes of openings some stream is still writing: snapshot frames, large replayed events
        #: (``atoms_sse_opening_bytes``: ``held.total``).
        self.held = Tally()

    def acquire(self, partition: Partition, state: StreamState, principal: str) -> SharedFrame:
        """The snapshot frame of ``partition`` at ``state``, shared with every other stream writing it; or
        429 ``too_many_openings`` if a new one would exceed the principal's, tenant's or process's budget."""
        key = (partition, state.seq, state.version)
        frame = self._frames.get(key)
        if frame is None:
            owner = (partition.tenant_id, principal)
            self._check(owner, state.size + len(partition.stream_id) + FRAME_OVERHEAD)
            frame = SharedFrame(key, snapshot_frame(partition.stream_id, state), owner)
            self._frames[key] = frame
            self.held.add(*owner, len(frame.data))
        frame.users += 1
        return frame

    def release(self, frame: SharedFrame) -> None:
        """One stream is done with ``frame`` (written, or the client left); the last one frees it."""
        frame.users -= 1
        if frame.users:
            return
        del self._frames[frame.key]
        self.held.add(*frame.owner, -len(frame.data))

    @contextlib.contextmanager
    def holding(self, tenant: str, principal: str, size: int) -> Iterator[None]:
        """Bytes of one stream's own (a replayed event larger than a slice) counted in the same budgets
        while they are written; 429 ``too_many_openings`` if they would exceed one."""
        owner = (tenant, principal)
        self._check(owner, size)
        self.held.add(*owner, size)
        try:
            yield
        finally:
            self.held.add(*owner, -size)

    def _check(self, owner: tuple[str, str], size: int) -> None:
        """Refuse ``size`` more bytes past a budget (unless nothing is held there: a lone part always fits)."""
        mine, tenants = self.held.of_principal(*owner), self.held.of_tenant(owner[0])
        if mine and mine + size > self.principal_max_bytes:
            self._refuse("principal", "you are", self.principal_max_bytes)
        if tenants and tenants + size > self.tenant_max_bytes:
            self._refuse("tenant", "this tenant is", self.tenant_max_bytes)
        if self.held.total and self.held.total + size > self.max_bytes:
            self._refuse("process", "this server is", self.max_bytes)

    def _refuse(self, scope: str, who: str, limit: int) -> None:
        self.metrics.sse_openings_refused.labels(scope).inc()
        setting = {"principal": "sse_opening_principal_bytes", "tenant": "sse_opening_tenant_bytes"}.get(
            scope, "sse_opening_bytes")
        raise TooManyRequests("too_many_openings",
                              f"{who} already writing {limit} bytes of stream openings to clients that have "
                              f"not read them ({setting}); retry later", scope=scope, limit=limit)

