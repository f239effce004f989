"""Verification of identity JWTs and tickets, with a small cache of verified claims until expiry."""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any

import jwt

from atoms_core.config.settings import Settings
from atoms_core.identity.authz import authz_callback
from atoms_core.identity.jwks import JwksKeys
from atoms_core.identity.keys import KeyRing
from atoms_core.identity.revocations import Revocations
from atoms_core.identity.scopes import parse_grants
from atoms_core.protocol.errors import AtomsError, Unauthorized
from atoms_core.protocol.ids import TENANT_ID
from atoms_core.protocol.principal import ALL_SCOPES, Grant, Identity, is_principal_id, is_tenant_id
from atoms_core.protocol.streams import parse_stream_id

TICKET_AUDIENCE = "atoms-ticket"
TICKET_ALGORITHM = "HS256"
CACHE_SIZE = 4096
ROLE = re.compile(r"[!-~]{1,128}")  # printable ASCII, no space
MAX_ROLES = 64


class KeysFetching(Unauthorized):
    """The token names a kid the identity provider's key set lacks, and the set is being fetched:
    await ``fetch``, then verify again (a caller that cannot wait treats this as the 401 it is)."""

    def __init__(self, fetch: Awaitable[None]) -> None:
        super().__init__("invalid_token", "unknown key id")
        self.fetch = fetch


def _refuse(what: str) -> Unauthorized:
    # The detail never echoes the value: it may be huge or hold bidi marks.
    return Unauthorized("invalid_token", f"token claim {what}")


def _tenant(value: object, claim: str = "tid") -> str:
    if not is_tenant_id(value):
        raise _refuse(f"{claim[:64]} must be a tenant id ({TENANT_ID.pattern})")
    return value


def _principal(value: object) -> str:
    if not is_principal_id(value):
        raise _refuse("sub must be a principal id (1-256 of A-Z a-z 0-9 . _ ~ @ : | / + = - and inner spaces)")
    return value


def _roles(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if (not isinstance(value, list) or len(value) > MAX_ROLES
            or not all(isinstance(role, str) and ROLE.fullmatch(role) for role in value)):
        raise _refuse(f"roles must be a list of at most {MAX_ROLES} role names ([!-~]{{1,128}})")
    return tuple(value)


def _issued_at(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _expiry(value: object, max_ttl_s: int, leeway_s: int) -> float:
    """A JSON number (PyJWT also takes the string "123"), and no later than the configured lifetime."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _refuse("exp must be a number (seconds since the epoch)")
    if value > time.time() + max_ttl_s + leeway_s:
        raise _refuse(f"exp is more than the allowed {max_ttl_s} s ahead")
    return float(value)


class Verifier:
    def __init__(self, settings: Settings, keys: KeyRing, revocations: Revocations | None = None) -> None:
        self.settings = settings
        self.keys = keys
        self.revocations = revocations or Revocations()
        self.jwks = (JwksKeys(settings.jwt_jwks_url, settings.jwt_jwks_max_age_s, settings.jwt_jwks_min_refetch_s)
                     if settings.jwt_jwks_url else None)
        self.authz = authz_callback(settings)  # the app's say, after our own checks
        self._cache: OrderedDict[str, Identity | Grant] = OrderedDict()

    def _cached(self, token: str) -> Identity | Grant | None:
        hit = self._cache.get(token)
        if hit is None:
            return None
        if hit.expires_at + self.settings.jwt_leeway_s < time.time():
            del self._cache[token]
            return None
        self._check_revoked(hit)
        self._cache.move_to_end(token)  # least recently used goes first, not the first one seen
        return hit

    def _check_revoked(self, value: Identity | Grant) -> None:
        jti = value.jti if isinstance(value, Grant) else None
        self.revocations.check(value.tenant_id, value.principal_id, value.issued_at, jti)

    def _key(self, kid: object) -> tuple[Any, list[str]] | None:
        """A configured key by kid (the configured algorithms), else the provider's JWKS key (its own)."""
        if not isinstance(kid, str):
            return None
        secret = self.keys.jwt_keys.get(kid)
        if secret is not None:
            return secret.reveal(), list(self.settings.jwt_algorithms)
        jwk = self.jwks.key(kid) if self.jwks is not None else None
        if jwk is None or jwk.algorithm_name not in self.settings.jwt_algorithms:
            return None
        return jwk, [jwk.algorithm_name]

    def _remember(self, token: str, value: Identity | Grant) -> None:
        self._cache[token] = value
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def bearer(self, token: str) -> Identity | Grant:
        """A bearer token is an identity JWT or a ticket; the cache answers repeat callers."""
        cached = self._cached(token)
        if cached is not None:
            return cached
        header = _header(token)  # read once: it says which kind, and the identity's key id
        return self.ticket(token) if header.get("typ") == "atoms-ticket" else self._identity(token, header)

    def identity(self, token: str) -> Identity:
        cached = self._cached(token)
        if isinstance(cached, Identity):
            return cached
        return self._identity(token, _header(token))

    def _identity(self, token: str, header: dict[str, Any]) -> Identity:
        kid = header.get("kid", self.keys.signing_kid)
        found = self._key(kid)
        if found is None:
            fetch = self.jwks.fetch_for(kid) if self.jwks is not None and isinstance(kid, str) else None
            if fetch is not None:
                raise KeysFetching(fetch)
            raise Unauthorized("invalid_token", "unknown key id")
        key, algorithms = found
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.settings.jwt_leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("invalid_token", "token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid_token", f"token rejected: {type(exc).__name__}") from None
        expires_at = _expiry(claims["exp"], self.settings.jwt_max_ttl_s, self.settings.jwt_leeway_s)
        tenant_claim = self.settings.tenant_claim
        identity = Identity(_tenant(claims.get(tenant_claim), tenant_claim), _principal(claims["sub"]),
                            _roles(claims.get("roles")), expires_at,
                            grants=parse_grants(claims["grants"]) if "grants" in claims else None,
                            issued_at=_issued_at(claims.get("iat")))
        self._check_revoked(identity)
        self._remember(token, identity)
        return identity

    def ticket(self, token: str) -> Grant:
        cached = self._cached(token)
        if isinstance(cached, Grant):
            return cached
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.keys.ticket_key.reveal(),
                algorithms=[TICKET_ALGORITHM],
                audience=TICKET_AUDIENCE,
                leeway=self.settings.jwt_leeway_s,
                options={"require": ["exp", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("ticket_expired", "ticket expired; fetch a new one") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid_token", f"ticket rejected: {type(exc).__name__}") from None
        grant = self._grant(claims)
        self._check_revoked(grant)
        self._remember(token, grant)
        return grant

    def _grant(self, claims: dict[str, Any]) -> Grant:
        """Tickets are ours, yet checked like identities: one signed before an upgrade may not be."""
        scopes = claims.get("scp")
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s in ALL_SCOPES for s in scopes):
            raise Unauthorized("invalid_token", "ticket claim scp must list scopes")
        sid, jti = claims.get("sid"), claims["jti"]
        try:
            stream_id = parse_stream_id(sid) if isinstance(sid, str) else None
        except AtomsError:
            stream_id = None
        if stream_id is None or not isinstance(jti, str):
            raise Unauthorized("invalid_token", "ticket claim sid or jti is malformed")
        return Grant(_tenant(claims.get("tid")), _principal(claims["sub"]), stream_id, frozenset(scopes),
                     _expiry(claims["exp"], self.settings.ticket_max_ttl_s, self.settings.jwt_leeway_s), jti,
                     _issued_at(claims.get("iat")))


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("invalid_token", "bearer token is not a JWT") from None
