"""Open SSE streams and WebSockets live no longer than their credentials.

Each connection takes a ``Lease`` when it opens: a timer ends it at its ticket's or identity's
expiry (plus the leeway), and ``end_where`` ends a principal's leases at once (a revocation). The
connection decides how to end: SSE finishes the response, WS closes with its expiry or revocation
code. Leases are indexed by tenant and principal, so a revocation touches only that principal's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: The reasons a lease ends, passed to its ``end`` callback (also problem codes).
EXPIRED, REVOKED = "credentials_expired", "token_revoked"


@dataclass(eq=False, slots=True)
class Lease:
    tenant_id: str
    principal_id: str
    issued_at: float | None
    jti: str | None
    end: Callable[[str], None]
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def finish(self, reason: str) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.end(reason)


#: Whether a credential (tenant, principal, issued_at, jti) is revoked (``identity.revocations``).
IsRevoked = Callable[[str, str, float | None, str | None], bool]


class Lifetimes:
    def __init__(self, leeway_s: float, is_revoked: IsRevoked = lambda *credential: False) -> None:
        self.leeway_s = leeway_s
        self.is_revoked = is_revoked
        self._leases: dict[tuple[str, str], set[Lease]] = {}

    def lease(self, tenant: str, principal: str, expires_at: float, end: Callable[[str], None], *,
              issued_at: float | None = None, jti: str | None = None) -> Lease:
        """Call from the connection's task once it is open; ``release`` when it closes."""
        lease = Lease(tenant, principal, issued_at, jti, end)
        delay = max(0.0, expires_at + self.leeway_s - time.time())
        lease.timer = asyncio.get_running_loop().call_later(delay, lease.finish, EXPIRED)
        self._leases.setdefault((tenant, principal), set()).add(lease)
        # A revocation between the credential's check and now found no lease to end: end it here.
        if self.is_revoked(tenant, principal, issued_at, jti):
            lease.finish(REVOKED)
        return lease

    def release(self, lease: Lease) -> None:
        if lease.timer is not None:
            lease.timer.cancel()
            lease.timer = None
        key = (lease.tenant_id, lease.principal_id)
        leases = self._leases.get(key)
        if leases is not None:
            leases.discard(lease)
            if not leases:
                del self._leases[key]

    def end_where(self, tenant: str, principal: str, covered: Callable[[Lease], bool], reason: str) -> int:
        """End the principal's leases that ``covered`` selects; returns how many."""
        ended = [lease for lease in self._leases.get((tenant, principal), ()) if covered(lease)]
        for lease in ended:
            lease.finish(reason)
        return len(ended)

    def __len__(self) -> int:
        return sum(len(leases) for leases in self._leases.values())
