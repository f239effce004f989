"""An identity provider's signing keys from its JWKS URL (Auth0, Keycloak, Okta, Entra ID ...).

The set is fetched at start, kept for ``jwt_jwks_max_age_s``, and fetched again when a token names
a ``kid`` the set lacks — at most once every ``jwt_jwks_min_refetch_s``, so a flood of tokens with
made-up kids costs the provider one request per interval. A provider that rotates keys publishes
the new one first, so rotation needs no restart. A failed fetch keeps the keys held so far.
"""

from __future__ import annotations

import logging
import time

import jwt

log = logging.getLogger("atoms.jwks")

FETCH_TIMEOUT_S = 5.0


class JwksKeys:
    def __init__(self, url: str, max_age_s: float, min_refetch_s: float) -> None:
        self.url = url
        self.max_age_s = max_age_s
        self.min_refetch_s = min_refetch_s
        self.fetches = 0
        self._client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False, timeout=FETCH_TIMEOUT_S)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._tried_at = float("-inf")

    def key(self, kid: str) -> jwt.PyJWK | None:
        """The key for ``kid``; an unknown kid or a stale set triggers one (rate-limited) fetch."""
        now = time.monotonic()
        key = self._keys.get(kid)
        stale = now - self._fetched_at > self.max_age_s
        if (key is None or stale) and now - self._tried_at >= self.min_refetch_s:
            self.refresh()
            key = self._keys.get(kid)
        return key

    def refresh(self) -> None:
        """Fetch the set now (blocking, at most ``FETCH_TIMEOUT_S``); keep the old keys on failure."""
        self._tried_at = time.monotonic()
        self.fetches += 1
        try:
            jwk_set = self._client.get_jwk_set(refresh=True)
        except jwt.PyJWTError as exc:
            log.warning("could not fetch the JWKS at %s: %s", self.url, exc)
            return
        self._keys = {key.key_id: key for key in jwk_set.keys if key.key_id}
        self._fetched_at = self._tried_at
