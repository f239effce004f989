"""Who is calling: the identity context, the grant a route is checked against, and the id checks.

The charsets themselves live in ``atoms_core.protocol.ids``. Tenant ids name storage as they are
(folders, file names, key prefixes), so they get the strict charset of stream ids: the tenant→storage
mapping is then the identity, which is injective, and no id can climb out of its folder. Principal
ids are shown to peers (presence, event ``actor``), so they are printable ASCII without spaces,
controls or bidi marks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeGuard

from atoms_core.protocol.ids import PRINCIPAL_ID, TENANT_ID

#: The scopes a ticket can carry: what one may do on one stream.
ALL_SCOPES = frozenset({"read", "write", "presence"})
#: A tenant-level scope from roles only (never in a ticket or a ``grants`` entry).
ADMIN_SCOPE = "admin"

#: The name the storage scheme before strict tenant ids gave a tenant with other characters
#: (``sha256-<hex>``): reserved, so no tenant can ever read what such a tenant left on disk.
LEGACY_TENANT_DIGEST = re.compile(r"sha256-[0-9a-f]{64}", re.IGNORECASE)


def is_tenant_id(value: object) -> TypeGuard[str]:
    return (isinstance(value, str) and TENANT_ID.fullmatch(value) is not None
            and LEGACY_TENANT_DIGEST.fullmatch(value) is None)


def is_principal_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and PRINCIPAL_ID.fullmatch(value) is not None


def storage_name(tenant: str) -> str:
    """The tenant's folder, file stem and key prefix in every per-tenant store: the id itself.

    Only a valid tenant id is ever a storage name (identity refuses the rest), so two tenants never
    share storage; anything else here is a bug, never escaped into a name another tenant could hold.
    """
    if not is_tenant_id(tenant):
        raise ValueError("not a valid tenant id")
    return tenant


@dataclass(frozen=True, slots=True)
class StreamGrant:
    """One entry of a ``grants`` claim: a stream id, or a prefix when ``prefix`` is set, and its scopes."""

    pattern: str
    prefix: bool
    scopes: frozenset[str]

    def matches(self, stream_id: str) -> bool:
        return stream_id.startswith(self.pattern) if self.prefix else stream_id == self.pattern


@dataclass(frozen=True, slots=True)
class Identity:
    """From a verified bearer JWT (IdentityMiddleware). ``grants`` None: no ``grants`` claim, every
    stream of the tenant; else only the streams an entry matches."""

    tenant_id: str
    principal_id: str
    roles: tuple[str, ...]
    expires_at: float
    grants: tuple[StreamGrant, ...] | None = None
    #: The token's ``iat`` (None if it had none): revocations refuse what was issued before them.
    issued_at: float | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """What one request may do: a tenant, a principal, a stream (None = any) and scopes."""

    tenant_id: str
    principal_id: str
    stream_id: str | None
    scopes: frozenset[str]
    expires_at: float
    jti: str | None = None
    issued_at: float | None = None
