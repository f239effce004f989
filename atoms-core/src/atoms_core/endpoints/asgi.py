"""The outermost ASGI callable. The two hot routes take a short path past the Starlette stack:

- SSE streams: every frame goes through ``send``, and each middleware layer would wrap it in one
  more coroutine;
- commands: per request, Starlette's error, routing and request layers cost more than the rest of
  the HTTP handling.

They still pass IdentityMiddleware (query checks, bearer verification) like every other route, and
commands RequestIdMiddleware too; both answer refusals with problem+json themselves."""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from atoms_core.endpoints.identity_middleware import IdentityMiddleware
from atoms_core.endpoints.logs import RequestIdMiddleware
from atoms_core.identity.jwt_verify import Verifier

SHORT_PATH = re.compile(r"/v1/streams/([^/]+)/(events|commands)")


class AtomsApp:
    def __init__(self, app: Starlette, sse: ASGIApp, commands: ASGIApp, verifier: Verifier) -> None:
        self.app = app
        self.sse = IdentityMiddleware(sse, verifier)
        self.commands = RequestIdMiddleware(IdentityMiddleware(commands, verifier))

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = SHORT_PATH.fullmatch(scope["path"])
            if match is not None:
                kind = match.group(2)
                if kind == "events" and scope["method"] == "GET":
                    scope["path_params"] = {"stream_id": match.group(1)}
                    await self.sse(scope, receive, send)
                    return
                if kind == "commands" and scope["method"] == "POST":
                    scope["path_params"] = {"stream_id": match.group(1)}
                    await self.commands(scope, receive, send)
                    return
        await self.app(scope, receive, send)
