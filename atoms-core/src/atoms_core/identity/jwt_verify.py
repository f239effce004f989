"""Verification of identity JWTs and tickets, with a small cache of verified claims until expiry."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import jwt

from atoms_core.config.settings import Settings
from atoms_core.errors import Unauthorized
from atoms_core.identity.keys import KeyRing
from atoms_core.identity.principal import Grant, Identity

TICKET_AUDIENCE = "atoms-ticket"
TICKET_ALGORITHM = "HS256"
CACHE_SIZE = 4096


class Verifier:
    def __init__(self, settings: Settings, keys: KeyRing) -> None:
        self.settings = settings
        self.keys = keys
        self._cache: OrderedDict[str, Identity | Grant] = OrderedDict()

    def _cached(self, token: str) -> Identity | Grant | None:
        hit = self._cache.get(token)
        if hit is None:
            return None
        if hit.expires_at + self.settings.jwt_leeway_s < time.time():
            del self._cache[token]
            return None
        return hit

    def _remember(self, token: str, value: Identity | Grant) -> None:
        self._cache[token] = value
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def is_ticket(self, token: str) -> bool:
        try:
            return jwt.get_unverified_header(token).get("typ") == "atoms-ticket"
        except jwt.PyJWTError:
            return False

    def bearer(self, token: str) -> Identity | Grant:
        """A bearer token is an identity JWT or a ticket; the cache answers repeat callers."""
        cached = self._cached(token)
        if cached is not None:
            return cached
        return self.ticket(token) if self.is_ticket(token) else self.identity(token)

    def identity(self, token: str) -> Identity:
        cached = self._cached(token)
        if isinstance(cached, Identity):
            return cached
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("invalid_token", "bearer token is not a JWT") from None
        kid = header.get("kid", self.keys.signing_kid)
        key = self.keys.jwt_keys.get(kid)
        if key is None:
            raise Unauthorized("invalid_token", "unknown key id")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.reveal(),
                algorithms=list(self.settings.jwt_algorithms),
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.settings.jwt_leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("invalid_token", "token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid_token", f"token rejected: {type(exc).__name__}") from None
        tenant = claims.get("tenant_id")
        if not isinstance(tenant, str) or not tenant:
            raise Unauthorized("invalid_token", "token has no tenant_id claim")
        roles = claims.get("roles") or []
        identity = Identity(tenant, str(claims["sub"]), tuple(map(str, roles)), float(claims["exp"]))
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
        grant = Grant(
            tenant_id=str(claims["tid"]),
            principal_id=str(claims["sub"]),
            stream_id=str(claims["sid"]),
            scopes=frozenset(claims.get("scp", [])),
            expires_at=float(claims["exp"]),
            jti=str(claims["jti"]),
        )
        self._remember(token, grant)
        return grant
