"""The service's shared parts, built once by ``app.main.build_context`` (the one composition root) and
reached through ``app.state.ctx``: typed and frozen, so nothing is added to them afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from starlette.routing import BaseRoute

from atoms_core.config.settings import Settings
from atoms_core.engine.connection_caps import ConnectionCaps
from atoms_core.engine.hub import Hub
from atoms_core.engine.lifetimes import Lifetimes
from atoms_core.engine.metrics import Metrics
from atoms_core.engine.openings import Openings
from atoms_core.engine.partitions import Partitions
from atoms_core.engine.presence import Presence
from atoms_core.identity.jwt_verify import Verifier
from atoms_core.identity.keys import KeyRing
from atoms_core.protocol.artifacts import ArtifactStore
from atoms_core.protocol.sidecars import SidecarGuard
from atoms_core.protocol.timeline import TimelineStore
from atoms_core.stores.audit import AuditLog


class Lifecycle(Protocol):
    """A part with background work of its own (the Redis link and relays, the demo agents)."""

    async def start(self) -> None:
        """Called once the store is open, before the first request."""
        ...

    async def stop(self) -> None:
        """Called at shutdown after the SSE streams are ended, before the partitions drain."""
        ...


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    keys: KeyRing
    verifier: Verifier
    store: TimelineStore
    hub: Hub
    partitions: Partitions
    artifacts: ArtifactStore
    audit: AuditLog
    metrics: Metrics
    sidecar_guard: SidecarGuard
    #: Open SSE / WebSocket connections per principal and tenant (``too_many_connections`` beyond).
    sse_caps: ConnectionCaps
    ws_caps: ConnectionCaps
    #: This process's presence rooms, on a local or cross-node (Redis) ``PresenceBus``.
    presence: Presence
    #: The SSE openings' shared ``state_snapshot`` frames and their byte budget (``too_many_openings``).
    openings: Openings
    #: Started in order, stopped in reverse order.
    lifecycles: tuple[Lifecycle, ...] = ()
    #: ``atoms serve --demo``: the canvas app at ``/``, appended after the fixed table (its catch-all last).
    demo_routes: tuple[BaseRoute, ...] = ()
    #: Open SSE / WebSocket connections by principal: each ends at its credentials' expiry or revocation.
    lifetimes: Lifetimes = field(default_factory=lambda: Lifetimes(0.0))
