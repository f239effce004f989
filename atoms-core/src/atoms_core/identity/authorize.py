"""The one authorization function every stream route uses."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import Scope

from atoms_core.identity.jwt_verify import Verifier
from atoms_core.protocol.errors import Forbidden, Unauthorized
from atoms_core.protocol.principal import ALL_SCOPES, Grant, Identity
from atoms_core.protocol.streams import parse_stream_id
from atoms_core.protocol.timeline import Partition

#: Where IdentityMiddleware leaves what it verified in the ASGI scope.
IDENTITY_KEY = "atoms.identity"
BEARER_GRANT_KEY = "atoms.bearer_ticket"

def query_ticket(scope: Scope) -> str | None:
    query = scope.get("query_string", b"")
    if b"ticket=" not in query:
        return None
    for key, value in parse_qsl(query.decode("latin-1")):
        if key == "ticket" and value:
            return str(value)
    return None


def identity_of(scope: Scope) -> Identity | None:
    identity = scope.get(IDENTITY_KEY)
    return identity if isinstance(identity, Identity) else None


def authorize(scope: Scope, verifier: Verifier, stream_id: str | None, needed: str) -> Grant:
    """Return the grant for this request or raise 401/403.

    A ticket (``?ticket=``, or a bearer one verified by IdentityMiddleware) must name this stream
    and carry ``needed``; an identity context (verified bearer JWT) grants every scope on its own
    tenant's streams.
    """
    token = query_ticket(scope)
    grant = verifier.ticket(token) if token is not None else scope.get(BEARER_GRANT_KEY)
    if isinstance(grant, Grant):
        if stream_id is not None and grant.stream_id != stream_id:
            raise Forbidden("wrong_stream", "this ticket is for another stream")
        if needed not in grant.scopes:
            raise Forbidden("missing_scope", f"this ticket lacks the {needed!r} scope")
        return grant
    identity = identity_of(scope)
    if identity is None:
        raise Unauthorized("unauthenticated", "a ticket or a bearer identity token is required")
    return Grant(identity.tenant_id, identity.principal_id, stream_id, ALL_SCOPES, identity.expires_at)


def authorize_stream(scope: Scope, verifier: Verifier, needed: str) -> tuple[Grant, Partition]:
    """``authorize`` for a ``/v1/streams/{stream_id}/...`` route: the grant and its partition."""
    stream_id = parse_stream_id(scope["path_params"]["stream_id"])
    grant = authorize(scope, verifier, stream_id, needed)
    return grant, Partition(grant.tenant_id, stream_id)
