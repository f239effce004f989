"""IdentityMiddleware: verifies ``Authorization: Bearer <JWT>`` into an identity context, and refuses
tenant-like query parameters on every route (the tenant only ever comes from a verified token)."""

from __future__ import annotations

from collections.abc import Awaitable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from atoms_core.endpoints.problems import refuse
from atoms_core.identity.authorize import BEARER_GRANT_KEY, IDENTITY_KEY
from atoms_core.identity.jwt_verify import KeysFetching, Verifier
from atoms_core.protocol.errors import AtomsError, BadRequest
from atoms_core.protocol.principal import Identity

FORBIDDEN_QUERY_KEYS = frozenset({"tenant", "tenant_id", "project", "project_id"})


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return str(token.strip())
    return None


class IdentityMiddleware:
    def __init__(self, app: ASGIApp, verifier: Verifier) -> None:
        self.app = app
        self.verifier = verifier

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The next app's awaitable, not a coroutine awaiting it: no frame of this layer stays suspended
        under a long-lived response (an SSE stream)."""
        if scope["type"] in ("http", "websocket"):
            try:
                self._check_query(scope)
                token = bearer_token(scope)
                if token:
                    self._verify(scope, token)
            except KeysFetching as fetching:
                return self._after_fetch(fetching.fetch, token or "", scope, receive, send)
            except AtomsError as err:
                return refuse(err, scope, receive, send)
        return self.app(scope, receive, send)

    def _verify(self, scope: Scope, token: str) -> None:
        verified = self.verifier.bearer(token)
        scope[IDENTITY_KEY if isinstance(verified, Identity) else BEARER_GRANT_KEY] = verified

    async def _after_fetch(self, fetch: Awaitable[None], token: str, scope: Scope, receive: Receive,
                           send: Send) -> None:
        """A token naming a kid not yet known waits for the key set's fetch (never the event loop)."""
        await fetch
        try:
            self._verify(scope, token)  # no second fetch: the first one is too recent
        except AtomsError as err:
            await refuse(err, scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _check_query(scope: Scope) -> None:
        query = scope.get("query_string", b"")
        if not query:
            return
        keys = {key.lower() for key, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)}
        bad = keys & FORBIDDEN_QUERY_KEYS
        if bad:
            raise BadRequest(
                "tenant_in_query",
                f"query parameter {sorted(bad)[0]!r} is refused: the tenant comes from your token",
            )
