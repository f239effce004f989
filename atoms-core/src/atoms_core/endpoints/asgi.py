"""The outermost ASGI callable. The two hot routes take a short path past the Starlette stack:

- SSE streams: every frame goes through ``send``, and each middleware layer would wrap it in one
  more coroutine;
- commands: per request, Starlette's error, routing and request layers cost more than the rest of
  the HTTP handling.

They still pass IdentityMiddleware (query checks, bearer verification) like every other route, and
commands RequestIdMiddleware too; both answer refusals with problem+json themselves.

The layers down to the SSE endpoint are plain functions that return the next layer's awaitable
rather than coroutines awaiting it: an open stream's task then holds the endpoint's frame alone,
not one suspended frame per layer (each costs memory on every idle connection)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from atoms_core.endpoints.identity_middleware import IdentityMiddleware
from atoms_core.endpoints.logs import RequestIdMiddleware
from atoms_core.identity.jwt_verify import Verifier

SHORT_PATH = re.compile(r"/v1/streams/([^/]+)/(events|commands)")
#: What a browser page on a listed origin may send and read (``cors_origins``).
CORS_HEADERS = ["Authorization", "Content-Type", "Last-Event-ID", "X-Request-ID"]
CORS_EXPOSED = ["Retry-After", "X-Request-ID", "Location"]


class AtomsApp:
    def __init__(self, app: Starlette, sse: ASGIApp, commands: ASGIApp, verifier: Verifier,
                 cors_origins: Sequence[str] = ()) -> None:
        self.starlette = app
        self.app: ASGIApp = app
        self.sse = IdentityMiddleware(sse, verifier)
        self.commands = RequestIdMiddleware(IdentityMiddleware(commands, verifier))
        #: CORS wraps every route, the short paths too; an unlisted origin gets no CORS header at all
        #: (Starlette's middleware would still answer its preflight with the allowed methods).
        self._origins = frozenset(origin.encode() for origin in cors_origins)
        self._cors = CORSMiddleware(
            self._route, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "PUT", "HEAD"],
            allow_headers=CORS_HEADERS, expose_headers=CORS_EXPOSED, max_age=600)
        self._entry: ASGIApp = self._cors_if_listed if cors_origins else self._route

    @property
    def state(self) -> Any:
        return self.starlette.state

    def trust_forwarded(self, trusted_hosts: list[str] | str) -> None:
        """Take the client address and scheme from ``X-Forwarded-For``/``-Proto`` sent by these hosts, as
        uvicorn's ``proxy_headers`` does, on the routes that read them (Starlette's: URLs built from the
        request). The short paths read neither, so an open stream keeps no frame of that layer."""
        proxied: Any = ProxyHeadersMiddleware(self.app, trusted_hosts=trusted_hosts)  # type: ignore[arg-type]
        self.app = proxied  # uvicorn's ASGI types are narrower than Starlette's, not different

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return self._entry(scope, receive, send)

    def _cors_if_listed(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        origin = next((value for name, value in scope.get("headers", ()) if name == b"origin"), None)
        app = self._cors if origin in self._origins else self._route
        return app(scope, receive, send)

    def _route(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http":
            match = SHORT_PATH.fullmatch(scope["path"])
            if match is not None:
                kind = match.group(2)
                if kind == "events" and scope["method"] == "GET":
                    scope["path_params"] = {"stream_id": match.group(1)}
                    return self.sse(scope, receive, send)
                if kind == "commands" and scope["method"] == "POST":
                    scope["path_params"] = {"stream_id": match.group(1)}
                    return self.commands(scope, receive, send)
        return self.app(scope, receive, send)
