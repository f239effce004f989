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

    def fetch_for(self, kid: str) -> asyncio.Task[None] | None:
        """The fetch to await before ``kid`` can be known: None when it is held, or when the set was
        tried less than ``min_refetch_s`` ago (the token is refused without asking the provider)."""
        if kid in self._keys:
            return None
        return self.fetch_soon()

    def fetch_soon(self) -> asyncio.Task[None] | None:
        """Start a fetch unless one is running or the last try is too recent; the running one, if any."""
        if self._fetch is not None and not self._fetch.done():
            return self._fetch
        if time.monotonic() - self._tried_at < self.min_refetch_s:
            return None
        self._tried_at = time.monotonic()
        self._fetch = asyncio.get_running_loop().create_task(self.refresh())
        return self._fetch

    async def refresh(self) -> None:
        """Fetch the set now (at most ``FETCH_TIMEOUT_S`` and ``MAX_JWKS_BYTES``); keep the old keys on failure."""
        self._tried_at = time.monotonic()
        self.fetches += 1
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_S):  # in all: a slow drip of bytes is cut off too
                body = await _get_bounded(self.url)
            jwk_set = jwt.PyJWKSet.from_dict(msgspec.json.decode(body))
        except (TimeoutError, httpx.HTTPError, ValueError, msgspec.DecodeError, jwt.PyJWTError) as exc:
            log.warning("could not fetch the JWKS at %s: %s", self.url, exc or type(exc).__name__)
            return
        self._keys = {key.key_id: key for key in jwk_set.keys if key.key_id}
        self._fetched_at = self._tried_at


async def _get_bounded(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S) as http, http.stream("GET", url) as response:
        response.raise_for_status()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_JWKS_BYTES:
                raise ValueError(f"the key set is larger than {MAX_JWKS_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
