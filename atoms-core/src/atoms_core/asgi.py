"""The outermost ASGI callable. SSE streams take a short path past the Starlette middleware stack:
every frame goes through ``send``, and each middleware layer would wrap it in one more coroutine.
They still pass IdentityMiddleware (query checks, bearer verification) like every other route."""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from atoms_core.identity.jwt_verify import Verifier
from atoms_core.identity.middleware import IdentityMiddleware

SSE_PATH = re.compile(r"/v1/streams/([^/]+)/events")


class AtomsApp:
    def __init__(self, app: Starlette, sse: ASGIApp, verifier: Verifier) -> None:
        self.app = app
        self.sse = IdentityMiddleware(sse, verifier)

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = SSE_PATH.fullmatch(scope["path"])
            if match is not None:
                scope["path_params"] = {"stream_id": match.group(1)}
                await self.sse(scope, receive, send)
                return
        await self.app(scope, receive, send)
