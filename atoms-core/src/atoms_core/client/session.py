"""One connection to an atoms-core server: base URL, the HTTP client, identity and tickets.

The caller supplies ``get_token`` (sync or async) returning an identity JWT; it is asked again for
every request, so a caller that refreshes tokens never hands the client a stale one. A request that
never got an answer (refused, reset, timed out) raises ``ProblemError`` with ``status`` 0 and code
``network_error``, like an HTTP error, so callers handle one exception type.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from atoms_core.client.errors import ProblemError

GetToken = Callable[[], str | Awaitable[str]]


class Session:
    def __init__(self, base_url: str, get_token: GetToken, http: httpx.AsyncClient | None = None,
                 timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._get_token = get_token
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(timeout=timeout)

    async def token(self) -> str:
        value = self._get_token()
        if inspect.isawaitable(value):
            value = await value
        return str(value)

    async def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    def stream_url(self, stream_id: str, tail: str) -> str:
        return f"{self.base_url}/v1/streams/{quote(stream_id, safe=':')}/{tail}"

    async def ticket(self, stream_id: str, scopes: Sequence[str]) -> str:
        """A fresh ticket from ``POST /v1/tickets`` (one per connect: tickets live about a minute)."""
        return (await self.ticket_expiring(stream_id, scopes))[0]

    async def ticket_expiring(self, stream_id: str, scopes: Sequence[str]) -> tuple[str, float]:
        """A fresh ticket and its lifetime in seconds (the server ends a connection then)."""
        response = await self.request("POST", f"{self.base_url}/v1/tickets",
                                      json={"stream_id": stream_id, "scopes": list(scopes)})
        if response.status_code != 201:
            raise ProblemError.from_response(response)
        body = response.json()
        return str(body["ticket"]), float(body["expires_in"])

    async def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                      **options: Any) -> httpx.Response:
        """One authenticated request (``headers`` beside the bearer one); a transport failure becomes a
        ``network_error`` ``ProblemError``."""
        try:
            return await self.http.request(method, url, headers={**await self.bearer(), **(headers or {})},
                                           **options)
        except httpx.TransportError as exc:
            raise ProblemError.network(exc) from exc

    async def get_json(self, url: str, **params: Any) -> Any:
        response = await self.request("GET", url, params=params)
        if response.status_code != 200:
            raise ProblemError.from_response(response)
        return response.json()

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()
