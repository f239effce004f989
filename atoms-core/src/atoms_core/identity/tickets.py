"""Tickets: short-lived signed grants bound to tenant, principal, one stream and scopes (``POST /v1/tickets``)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import jwt

from atoms_core.config.settings import Settings
from atoms_core.identity.jwt_verify import TICKET_ALGORITHM, TICKET_AUDIENCE
from atoms_core.identity.keys import KeyRing
from atoms_core.identity.scopes import scopes_for
from atoms_core.protocol.contracts import TicketRequest, TicketResponse
from atoms_core.protocol.errors import BadRequest, Forbidden, Unprocessable
from atoms_core.protocol.principal import Identity
from atoms_core.protocol.streams import parse_stream_id, stream_key


def requested_stream(body: TicketRequest) -> str:
    if body.stream_id is not None:
        if any(v is not None for v in (body.thread_id, body.canvas_id, body.run_id)):
            raise BadRequest("bad_request", "give stream_id or thread_id/canvas_id/run_id, not both")
        return parse_stream_id(body.stream_id)
    return stream_key(body.thread_id, body.canvas_id, body.run_id)


def within_identity(settings: Settings, identity: Identity, stream_id: str, scopes: list[str]) -> None:
    """A ticket never exceeds its identity: 403 ``not_granted`` for a scope it lacks on this stream."""
    lacking = sorted(set(scopes) - scopes_for(identity, stream_id, settings))
    if lacking:
        raise Forbidden("not_granted", f"your identity has no {', '.join(lacking)} scope on {stream_id}")


def issue_ticket(settings: Settings, keys: KeyRing, identity: Identity, body: TicketRequest) -> TicketResponse:
    stream_id = requested_stream(body)
    within_identity(settings, identity, stream_id, list(body.scopes))
    ttl = body.ttl_s or settings.ticket_ttl_s
    if ttl > settings.ticket_max_ttl_s:
        raise Unprocessable("validation_failed", f"ttl_s may be at most {settings.ticket_max_ttl_s}",
                            pointer="/ttl_s")
    now = int(time.time())
    scopes: list[str] = sorted(set(body.scopes))
    claims = {
        "sub": identity.principal_id,
        "tid": identity.tenant_id,
        "sid": stream_id,
        "scp": scopes,
        "iat": now,
        "exp": now + ttl,
        "aud": TICKET_AUDIENCE,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, keys.ticket_key.reveal(), algorithm=TICKET_ALGORITHM,
                       headers={"typ": "atoms-ticket"})
    expires_at = datetime.fromtimestamp(now + ttl, UTC).isoformat().replace("+00:00", "Z")
    return TicketResponse(ticket=token, stream_id=stream_id, scopes=scopes, expires_at=expires_at,
                          expires_in=ttl)


def mint_identity_token(settings: Settings, keys: KeyRing, tenant: str, principal: str,
                        roles: list[str], ttl_s: int, grants: dict[str, list[str]] | None = None) -> str:
    """An identity JWT for dev and tests (``atoms token``), signed with the configured signing kid;
    ``grants`` (stream id or ``prefix*`` → scopes) limits it to those streams."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": principal,
        "tenant_id": tenant,
        "roles": roles,
        "iat": now,
        "exp": now + ttl_s,
    }
    if grants is not None:
        claims["grants"] = grants
    key = keys.jwt_keys[keys.signing_kid].reveal()
    return jwt.encode(claims, key, algorithm=settings.jwt_algorithms[0], headers={"kid": keys.signing_kid})
