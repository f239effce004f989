"""``AtomsClient``: the async client of one atoms-core server — follow, command, stream, presence."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from atoms_core.client import commands
from atoms_core.client.errors import ProblemError
from atoms_core.client.presence import Presence
from atoms_core.client.session import GetToken, Session
from atoms_core.client.subscribe import DEFAULT_HEARTBEAT_TIMEOUT, Subscription
from atoms_core.client.tokens import TokenStreamer
from atoms_core.protocol.contracts import BatchResult, CommandResult


class AtomsClient:
    """``get_token`` returns an identity JWT (sync or async); it is called for every request."""

    def __init__(self, base_url: str, get_token: GetToken, *, http: httpx.AsyncClient | None = None,
                 heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
                 command_retries: int = commands.DEFAULT_RETRIES) -> None:
        self.session = Session(base_url, get_token, http)
        self.heartbeat_timeout = heartbeat_timeout
        self.command_retries = command_retries

    def subscribe(self, stream_id: str) -> Subscription:
        """Follow a stream: ``async with client.subscribe(s) as sub: async for event in sub: ...``."""
        return Subscription(self.session, stream_id, self.heartbeat_timeout)

    async def command(self, stream_id: str, type: str, payload: dict[str, Any], *,
                      command_id: str | None = None, base_version: int | None = None,
                      meta: dict[str, Any] | None = None) -> CommandResult:
        return await commands.command(self.session, stream_id, type, payload, command_id=command_id,
                                      base_version=base_version, meta=meta, retries=self.command_retries)

    async def command_batch(self, stream_id: str, envelopes: list[dict[str, Any]]) -> BatchResult:
        """Envelopes from ``atoms_core.client.envelope``; committed all or nothing."""
        return await commands.command_batch(self.session, stream_id, envelopes, self.command_retries)

    async def state(self, stream_id: str) -> dict[str, Any]:
        """``GET /state``: ``{stream_id, state, seq, version}``."""
        result: dict[str, Any] = await self.session.get_json(self.session.stream_url(stream_id, "state"))
        return result

    async def revoke(self, principal_id: str, jti: str | None = None) -> dict[str, Any]:
        """``POST /v1/revocations`` (an admin identity): end the principal's credentials, or one token."""
        body: dict[str, Any] = {"principal_id": principal_id, **({"jti": jti} if jti else {})}
        response = await self.session.request("POST", f"{self.session.base_url}/v1/revocations", json=body)
        if response.status_code != 201:
            raise ProblemError.from_response(response)
        result: dict[str, Any] = response.json()
        return result

    def token_streamer(self, stream_id: str, target: str, **options: Any) -> TokenStreamer:
        """Stream text into the string at ``target`` (see ``TokenStreamer`` for the options)."""
        return TokenStreamer(self.session, stream_id, target, **options)

    def presence(self, stream_id: str, **options: Any) -> Presence:
        return Presence(self.session, stream_id, **options)

    async def aclose(self) -> None:
        await self.session.aclose()

    async def __aenter__(self) -> AtomsClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
