"""Who is calling: the identity context and the grant a route is checked against."""

from __future__ import annotations

from dataclasses import dataclass

ALL_SCOPES = frozenset({"read", "write", "presence"})


@dataclass(frozen=True, slots=True)
class Identity:
    """From a verified bearer JWT (IdentityMiddleware)."""

    tenant_id: str
    principal_id: str
    roles: tuple[str, ...]
    expires_at: float


@dataclass(frozen=True, slots=True)
class Grant:
    """What one request may do: a tenant, a principal, a stream (None = any) and scopes."""

    tenant_id: str
    principal_id: str
    stream_id: str | None
    scopes: frozenset[str]
    expires_at: float
    jti: str | None = None
