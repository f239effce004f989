"""An identity provider's signing keys from its JWKS URL (Auth0, Keycloak, Okta, Entra ID ...).

The set is fetched at start, kept for ``jwt_jwks_max_age_s``, and fetched again when a token names
a ``kid`` the set lacks — at most once every ``jwt_jwks_min_refetch_s``, so a flood of tokens with
made-up kids costs the provider one request per interval. A provider that rotates keys publishes
the new one first, so rotation needs no restart. A failed fetch keeps the keys held so far.

Fetches never block the event loop: they run as one shared task (every request waiting on an unknown
kid awaits the same fetch), bounded in time (``FETCH_TIMEOUT_S``) and in size (``MAX_JWKS_BYTES``).
A stale set keeps answering with the keys it holds while it is fetched again in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import jwt
import msgspec

from atoms_core.identity.bounded_http import AnswerTooLarge, read_bounded

log = logging.getLogger("atoms.jwks")

FETCH_TIMEOUT_S = 5.0
#: Far above any provider's key set (a few KB); a larger answer is refused, not buffered.
MAX_JWKS_BYTES = 1 << 20


class JwksKeys:
    def __init__(self, url: str, max_age_s: float, min_refetch_s: float) -> None:
        self.url = url
        self.max_age_s = max_age_s
        self.min_refetch_s = min_refetch_s
        self.fetches = 0
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._tried_at = float("-inf")
        self._fetch: asyncio.Task[None] | None = None

    def key(self, kid: str) -> jwt.PyJWK | None:
        """The key for ``kid`` among those held now; a stale set is refreshed in the background."""
        key = self._keys.get(kid)
        if key is not None and time.monotonic() - self._fetched_at > self.max_age_s:
            self.fetch_soon()
        return key

    def fetch_for(self, kid: str) -> asyncio.Future[None] | None:
        """The fetch to await before ``kid`` can be known: None when it is held, or when the set was
        tried less than ``min_refetch_s`` ago (the token is refused without asking the provider)."""
        fetch = None if kid in self._keys else self.fetch_soon()
        # Shielded: one waiter going away (a disconnect) never cancels the fetch the others wait for.
        return None if fetch is None else asyncio.shield(fetch)

    def fetch_soon(self) -> asyncio.Task[None] | None:
        """Start a fetch unless one is running or the last try is too recent; the running one, if any."""
        if self._fetch is not None and not self._fetch.done():
            return self._fetch
        if time.monotonic() - self._tried_at < self.min_refetch_s:
            return None
        self._fetch = asyncio.get_running_loop().create_task(self.refresh())
        return self._fetch

    async def refresh(self) -> None:
        """Fetch the set now (at most ``FETCH_TIMEOUT_S`` and ``MAX_JWKS_BYTES``); keep the old keys on failure."""
        self._tried_at = time.monotonic()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S) as http:
                status, body = await read_bounded(http, "GET", self.url, MAX_JWKS_BYTES, FETCH_TIMEOUT_S)
            if status != 200:
                raise ValueError(f"HTTP {status}")
            answer = msgspec.json.decode(body)
            if not isinstance(answer, dict):
                raise ValueError("the key set is not a JSON object")
            jwk_set = jwt.PyJWKSet.from_dict(answer)
        except (AnswerTooLarge, TimeoutError, httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            log.warning("could not fetch the JWKS at %s: %s", self.url, str(exc) or type(exc).__name__)
            return
        self._keys = {key.key_id: key for key in jwk_set.keys if key.key_id}
        self._fetched_at = self._tried_at
