"""The service's shared parts, built once by ``main.create_app`` and reached through ``app.state.ctx``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from atoms_core.config.settings import Settings
from atoms_core.engine.connection_caps import ConnectionCaps
from atoms_core.engine.hub import Hub
from atoms_core.engine.lifetimes import Lifetimes
from atoms_core.engine.metrics import Metrics
from atoms_core.engine.partitions import Partitions
from atoms_core.identity.jwt_verify import Verifier
from atoms_core.identity.keys import KeyRing
from atoms_core.protocol.artifacts import ArtifactStore
from atoms_core.protocol.sidecars import SidecarGuard
from atoms_core.protocol.timeline import TimelineStore
from atoms_core.stores.audit import AuditLog


@dataclass
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
    #: Optional parts added by engines and modes: "on_start"/"on_stop" hooks, "presence_bus", "demo_routes".
    extras: dict[str, Any]
    #: Open SSE / WebSocket connections per principal and tenant (``too_many_connections`` beyond).
    sse_caps: ConnectionCaps
    ws_caps: ConnectionCaps
    #: Open SSE / WebSocket connections by principal: each ends at its credentials' expiry or revocation.
    lifetimes: Lifetimes = field(default_factory=lambda: Lifetimes(0.0))
