"""The one authorization function every stream route uses."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import Scope

from atoms_core.identity.jwt_verify import Verifier
from atoms_core.identity.scopes import scopes_for
from atoms_core.protocol.errors import Forbidden, Unauthorized
from atoms_core.protocol.principal import Grant, Identity
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


def _credential(scope: Scope, verifier: Verifier) -> Grant | Identity:
    """The request's ticket (``?ticket=`` first, then a bearer one), else its identity; 401 without."""
    token = query_ticket(scope)
    grant = verifier.ticket(token) if token is not None else scope.get(BEARER_GRANT_KEY)
    if isinstance(grant, Grant):
        return grant
    identity = identity_of(scope)
    if identity is None:
        raise Unauthorized("unauthenticated", "a ticket or a bearer identity token is required")
    return identity


def identity_grant(identity: Identity, stream_id: str | None, needed: str, verifier: Verifier) -> Grant:
    """What a bearer identity may do on ``stream_id`` (its roles and ``grants``), or 403 ``not_granted``."""
    scopes = scopes_for(identity, stream_id, verifier.settings)
    if needed not in scopes:
        where = f"on {stream_id}" if stream_id is not None else "without a stream_id"
        raise Forbidden("not_granted", f"your identity has no {needed!r} scope {where}")
    return Grant(identity.tenant_id, identity.principal_id, stream_id, scopes, identity.expires_at,
                 issued_at=identity.issued_at)


async def ask_app(verifier: Verifier, identity: Identity, stream_id: str, scopes: list[str]) -> None:
    """The ``authz_url`` callback, when configured, for each scope: 403 ``authz_denied`` or 503."""
    if verifier.authz is not None:
        for scope in scopes:
            await verifier.authz.check(identity.tenant_id, identity.principal_id, stream_id, scope)


async def authorize(scope: Scope, verifier: Verifier, stream_id: str | None, needed: str) -> Grant:
    """Return the grant for this request or raise 401/403 (503 when the app's callback is down).

    A ticket (``?ticket=``, or a bearer one verified by IdentityMiddleware) must name this stream
    and carry ``needed``; an identity context (verified bearer JWT) has the scopes its roles and
    ``grants`` give it on its own tenant's streams, and on a stream, the app's callback must agree.
    """
    credential = _credential(scope, verifier)
    if isinstance(credential, Grant):
        if stream_id is not None and credential.stream_id != stream_id:
            raise Forbidden("wrong_stream", "this ticket is for another stream")
        if needed not in credential.scopes:
            raise Forbidden("missing_scope", f"this ticket lacks the {needed!r} scope")
        return credential
    identity = credential
    grant = identity_grant(identity, stream_id, needed, verifier)
    if stream_id is not None and verifier.authz is not None:  # no coroutine per request without one
        await ask_app(verifier, identity, stream_id, [needed])
    return grant


def tenant_of(scope: Scope, verifier: Verifier) -> str:
    """The caller's tenant from its ticket or identity (401 without), before the stream is known."""
    return _credential(scope, verifier).tenant_id


async def authorize_stream(scope: Scope, verifier: Verifier, needed: str) -> tuple[Grant, Partition]:
    """``authorize`` for a ``/v1/streams/{stream_id}/...`` route: the grant and its partition."""
    stream_id = parse_stream_id(scope["path_params"]["stream_id"])
    grant = await authorize(scope, verifier, stream_id, needed)
    return grant, Partition(grant.tenant_id, stream_id)
