"""Open SSE streams and WebSockets live no longer than their credentials.

Each connection takes a ``Lease`` when it opens: it ends at its ticket's or identity's expiry (plus
the leeway), and ``end_where`` ends a principal's leases at once (a revocation). The connection
decides how to end: SSE finishes the response, WS closes with its expiry or revocation code. Leases
are indexed by tenant and principal, so a revocation touches only that principal's.

Leases due at the same instant share one timer: credentials expire on whole seconds (JWT ``exp``),
so thousands of connections opened with tickets of the same second cost one timer, not one each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

#: The reasons a lease ends, passed to its ``end`` callback (also problem codes).
EXPIRED, REVOKED = "credentials_expired", "token_revoked"


@dataclass(eq=False, slots=True)
class Lease:
    tenant_id: str
    principal_id: str
    issued_at: float | None
    jti: str | None
    end: Callable[[str], None]
    #: When it ends (wall clock, expiry plus leeway); None once it has ended or was released.
    due: float | None


@dataclass(eq=False, slots=True)
class _Due:
    """The leases ending at one instant, and the one timer that ends them."""

    timer: asyncio.TimerHandle
    leases: set[Lease]


#: Whether a credential (tenant, principal, issued_at, jti) is revoked (``identity.revocations``).
IsRevoked = Callable[[str, str, float | None, str | None], bool]


class Lifetimes:
    def __init__(self, leeway_s: float, is_revoked: IsRevoked = lambda *credential: False) -> None:
        self.leeway_s = leeway_s
        self.is_revoked = is_revoked
        self._leases: dict[tuple[str, str], set[Lease]] = {}
        self._due: dict[float, _Due] = {}

    def lease(self, tenant: str, principal: str, expires_at: float, end: Callable[[str], None], *,
              issued_at: float | None = None, jti: str | None = None) -> Lease:
        """Call from the connection's task once it is open; ``release`` when it closes."""
        due = expires_at + self.leeway_s
        lease = Lease(tenant, principal, issued_at, jti, end, due)
        group = self._due.get(due)
        if group is None:
            delay = max(0.0, due - time.time())
            timer = asyncio.get_running_loop().call_later(delay, self._expire, due)
            group = self._due[due] = _Due(timer, set())
        group.leases.add(lease)
        self._leases.setdefault((tenant, principal), set()).add(lease)
        # A revocation between the credential's check and now found no lease to end: end it here.
        if self.is_revoked(tenant, principal, issued_at, jti):
            self._finish(lease, REVOKED)
        return lease

    def release(self, lease: Lease) -> None:
        self._undue(lease)
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
            self._finish(lease, reason)
        return len(ended)

    def __len__(self) -> int:
        return sum(len(leases) for leases in self._leases.values())

    def _finish(self, lease: Lease, reason: str) -> None:
        self._undue(lease)
        lease.end(reason)

    def _undue(self, lease: Lease) -> None:
        """Take the lease off its timer; the timer goes with the last lease it would end."""
        due = lease.due
        if due is None:
            return
        lease.due = None
        group = self._due.get(due)
        if group is not None:
            group.leases.discard(lease)
            if not group.leases:
                group.timer.cancel()
                del self._due[due]

    def _expire(self, due: float) -> None:
        group = self._due.pop(due, None)
        if group is not None:
            for lease in group.leases:
                lease.due = None
                lease.end(EXPIRED)
