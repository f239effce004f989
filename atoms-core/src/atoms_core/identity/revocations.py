"""Revocations: a principal's (or one token's) credentials issued before a moment are refused.

``POST /v1/revocations`` records one; from then on ``check`` refuses (401 ``token_revoked``) every
identity token and ticket of that principal whose ``iat`` is earlier — or the one ``jti`` — and the
listeners close its open connections. A token without ``iat`` cannot prove it is newer, so it is
refused too. The set lives in memory (one dict lookup per verification) and in a ``RevocationStore``
that keeps it across restarts and, on the Redis engine, tells the other nodes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from atoms_core.protocol.errors import Conflict, Unauthorized
from atoms_core.protocol.principal import is_principal_id, is_tenant_id


@dataclass(frozen=True, slots=True)
class Revocation:
    tenant_id: str
    principal_id: str
    #: Seconds since the epoch; credentials issued earlier are refused.
    revoked_at: float
    #: Only the token or ticket with this ``jti`` (None: all of the principal's).
    jti: str | None = None

    def covers(self, issued_at: float | None, jti: str | None) -> bool:
        """Whether credentials issued at ``issued_at`` (None: unknown) with ``jti`` fall under this."""
        if self.jti is not None:
            return jti == self.jti
        return issued_at is None or issued_at < self.revoked_at

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Revocation:
        """What another node published or a store kept; a malformed record is a ``ValueError``."""
        data = json.loads(raw)
        tenant, principal, at, jti = (data.get(k) for k in ("tenant_id", "principal_id", "revoked_at", "jti"))
        if (not is_tenant_id(tenant) or not is_principal_id(principal) or not isinstance(at, int | float)
                or not (jti is None or isinstance(jti, str))):
            raise ValueError("not a revocation record")
        return cls(tenant, principal, float(at), jti)


class RevocationStore(Protocol):
    async def load(self) -> list[Revocation]: ...

    async def add(self, revocation: Revocation) -> None: ...


Listener = Callable[[Revocation], None]


class Revocations:
    def __init__(self, store: RevocationStore | None = None, per_tenant: int = 10_000) -> None:
        self.store = store
        #: Revocations one tenant may hold (``revocations_per_tenant``): each is kept for good, on every node.
        self.per_tenant = per_tenant
        self._principals: dict[tuple[str, str], float] = {}
        self._tokens: set[tuple[str, str, str]] = set()
        self._held: dict[str, int] = {}  # tenant -> revocations held
        #: Called with each revocation applied here (this node's or another's): close connections.
        self.listeners: list[Listener] = []

    async def open(self) -> None:
        if self.store is not None:
            for revocation in await self.store.load():
                self.apply(revocation)

    async def revoke(self, revocation: Revocation) -> None:
        """Persist first (a store fault is a 503 and nothing changes), then apply here. A new one past the
        tenant's ``per_tenant`` is 409 ``too_many_revocations``; a repeat of one held is always fine."""
        if self._is_new(revocation) and self._held.get(revocation.tenant_id, 0) >= self.per_tenant:
            raise Conflict("too_many_revocations",
                           f"the tenant holds {self.per_tenant} revocations already (revocations_per_tenant)")
        if self.store is not None:
            await self.store.add(revocation)
        self.apply(revocation)

    def _is_new(self, revocation: Revocation) -> bool:
        key = (revocation.tenant_id, revocation.principal_id)
        return (*key, revocation.jti) not in self._tokens if revocation.jti is not None else key not in self._principals

    def apply(self, revocation: Revocation) -> None:
        """Known already (a reload, our own message echoed back): nothing to do, nothing to close. Reloads
        and other nodes' revocations are counted against the tenant's bound, never refused."""
        key = (revocation.tenant_id, revocation.principal_id)
        if self._is_new(revocation):
            self._held[revocation.tenant_id] = self._held.get(revocation.tenant_id, 0) + 1
        if revocation.jti is not None:
            token = (*key, revocation.jti)
            if token in self._tokens:
                return
            self._tokens.add(token)
        elif revocation.revoked_at > self._principals.get(key, float("-inf")):
            self._principals[key] = revocation.revoked_at
        else:
            return
        for listener in self.listeners:
            listener(revocation)

    def check(self, tenant: str, principal: str, issued_at: float | None, jti: str | None) -> None:
        """Raise 401 ``token_revoked`` for credentials a revocation covers."""
        if self.is_revoked(tenant, principal, issued_at, jti):
            raise Unauthorized("token_revoked", "these credentials were revoked; sign in again")

    def is_revoked(self, tenant: str, principal: str, issued_at: float | None, jti: str | None) -> bool:
        if not (self._principals or self._tokens):
            return False
        since = self._principals.get((tenant, principal))
        if since is not None and (issued_at is None or issued_at < since):
            return True
        return jti is not None and (tenant, principal, jti) in self._tokens
