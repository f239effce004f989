"""``POST /v1/tickets``: trade an identity for a short-lived ticket to one stream."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from atoms_core.context import Context
from atoms_core.errors import Unauthorized, Unprocessable
from atoms_core.http_body import read_json
from atoms_core.identity.authorize import identity_of
from atoms_core.identity.tickets import issue_ticket
from atoms_core.realtime.contracts import TicketRequest


async def post_ticket(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    identity = identity_of(request.scope)
    if identity is None:
        raise Unauthorized("unauthenticated", "POST /v1/tickets needs a bearer identity token")
    body = await read_json(request, 16_384)
    try:
        ticket_request = TicketRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        pointer = "".join(f"/{part}" for part in first["loc"])
        raise Unprocessable("validation_failed", f"{pointer or '/'}: {first['msg']}", pointer=pointer) from None
    ticket = issue_ticket(ctx.settings, ctx.keys, identity, ticket_request)
    ctx.metrics.tickets.inc()
    ctx.audit.record(identity.tenant_id, "ticket.issued", ticket.stream_id, identity.principal_id,
                     reason=",".join(ticket.scopes))
    return JSONResponse(ticket.model_dump(), status_code=201)
