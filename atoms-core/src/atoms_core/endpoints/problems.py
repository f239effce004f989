"""Problems on the wire: an ``AtomsError`` as an RFC 9457 response, for HTTP routes and WS handshakes."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from atoms_core.protocol.codes import CloseCode
from atoms_core.protocol.errors import AtomsError


def problem_response(err: AtomsError, headers: dict[str, str] | None = None) -> JSONResponse:
    hdrs = dict(headers or {})
    if err.status in (429, 503):
        hdrs.setdefault("Retry-After", "1")
    if err.status == 401:
        hdrs.setdefault("WWW-Authenticate", 'Bearer realm="atoms"')
    return JSONResponse(err.to_problem(), status_code=err.status, media_type="application/problem+json",
                        headers=hdrs)


async def refuse(err: AtomsError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request with its problem. A WebSocket handshake gets it as the HTTP response when the
    server supports the denial response extension (uvicorn does), else a bare close 1008 (HTTP 403)."""
    if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
        await receive()
        await send({"type": "websocket.close", "code": CloseCode.POLICY, "reason": err.code})
        return
    await problem_response(err)(scope, receive, send)
