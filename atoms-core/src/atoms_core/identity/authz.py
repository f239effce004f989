"""The optional authorization callback (``authz_url``): the app's backend says yes or no to one
(tenant, principal, stream, scope) before a ticket is issued or a bearer identity acts on a stream.

Answers are cached for ``authz_cache_s`` in a bounded LRU; concurrent misses on one key share one
request. A backend that is down, slow or answers anything but ``200 {"allow": <bool>}`` fails
closed: 503 ``authz_unavailable`` (with Retry-After), never an allow.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict

import httpx

from atoms_core.config.settings import Settings
from atoms_core.identity.bounded_http import AnswerTooLarge, read_bounded
from atoms_core.protocol.errors import Forbidden, Unavailable

#: Largest answer read from the backend; ``{"allow": true}`` needs 15 bytes.
MAX_ANSWER_BYTES = 4096

Key = tuple[str, str, str, str]


def _unavailable(why: str) -> Unavailable:
    return Unavailable("authz_unavailable", f"the authorization backend {why}; retry")


class AuthzCallback:
    def __init__(self, settings: Settings) -> None:
        self.url = settings.authz_url
        self.timeout_s = settings.authz_timeout_s
        self.cache_s = settings.authz_cache_s
        self.max_entries = settings.authz_cache_entries
        self._cache: OrderedDict[Key, tuple[float, bool]] = OrderedDict()
        self._inflight: dict[Key, asyncio.Task[bool]] = {}
        self._client: httpx.AsyncClient | None = None

    async def check(self, tenant_id: str, principal_id: str, stream_id: str, scope: str) -> None:
        """Return if the backend allows it, else raise 403 ``authz_denied`` or 503 ``authz_unavailable``."""
        key = (tenant_id, principal_id, stream_id, scope)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            self._cache.move_to_end(key)
            allowed = hit[1]
        else:
            allowed = await self._ask(key)
        if not allowed:
            raise Forbidden("authz_denied", f"the app does not allow {scope!r} on this stream")

    async def _ask(self, key: Key) -> bool:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._post(key))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._settled(key, done))
        # Shielded: one caller going away does not cancel the answer the others wait for.
        return await asyncio.shield(task)

    def _settled(self, key: Key, task: asyncio.Task[bool]) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return  # failures are never cached: the next request asks again
        if self.cache_s > 0:
            self._cache[key] = (time.monotonic() + self.cache_s, task.result())
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)

    async def _post(self, key: Key) -> bool:
        tenant_id, principal_id, stream_id, scope = key
        body = {"tenant_id": tenant_id, "principal_id": principal_id, "stream_id": stream_id, "scope": scope}
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False)
        try:
            status, raw = await read_bounded(self._client, "POST", self.url, MAX_ANSWER_BYTES, self.timeout_s,
                                             json=body)
        except AnswerTooLarge:
            raise _unavailable("answered too much") from None
        except (httpx.HTTPError, TimeoutError) as exc:
            raise _unavailable("is unreachable") from exc
        if status != 200:
            raise _unavailable(f"answered HTTP {status}")
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        allowed = answer.get("allow") if isinstance(answer, dict) else None
        if not isinstance(allowed, bool):
            raise _unavailable('did not answer {"allow": true|false}')
        return allowed

    async def start(self) -> None:
        """Nothing to start: the HTTP client connects on the first question (a ``Lifecycle``)."""

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def authz_callback(settings: Settings) -> AuthzCallback | None:
    return AuthzCallback(settings) if settings.authz_url else None
