"""Caps on the open connections of one kind (SSE or WebSocket) per principal and per tenant.

The counts are of this process only (with the Redis engine: per node). One principal cannot take a
whole tenant's share, and one tenant cannot take the whole process from the others.
"""

from __future__ import annotations

from typing import Literal

from atoms_core.engine.metrics import Metrics
from atoms_core.engine.tally import Tally
from atoms_core.protocol.errors import TooManyRequests


class ConnectionCaps:
    def __init__(self, kind: Literal["sse", "ws"], per_principal: int, per_tenant: int, metrics: Metrics) -> None:
        self.kind = kind  # "sse" or "ws": the metric label and the settings' prefix
        self.per_principal = per_principal
        self.per_tenant = per_tenant
        self.metrics = metrics
        self._open = Tally()

    def acquire(self, tenant_id: str, principal_id: str) -> None:
        """Count one more open connection, or raise 429 ``too_many_connections`` and count nothing."""
        if self._open.of_principal(tenant_id, principal_id) >= self.per_principal:
            self._refuse("principal", f"principal {principal_id!r}", self.per_principal)
        if self._open.of_tenant(tenant_id) >= self.per_tenant:
            self._refuse("tenant", "this tenant", self.per_tenant)
        self._open.add(tenant_id, principal_id, 1)

    def release(self, tenant_id: str, principal_id: str) -> None:
        """Forget one connection counted by ``acquire``."""
        self._open.add(tenant_id, principal_id, -1)

    def _refuse(self, scope: str, who: str, limit: int) -> None:
        self.metrics.connections_refused.labels(self.kind, scope).inc()
        label = "SSE" if self.kind == "sse" else "WebSocket"
        raise TooManyRequests("too_many_connections",
                              f"{who} already has {limit} open {label} connections on this server "
                              f"({self.kind}_max_per_{scope}); close one or retry later",
                              scope=scope, limit=limit)
