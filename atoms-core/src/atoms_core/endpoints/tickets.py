"""``POST /v1/tickets``: trade an identity for a short-lived ticket to one stream."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from atoms_core.endpoints.context import Context
from atoms_core.endpoints.http_body import read_json
from atoms_core.identity.authorize import ask_app, identity_of
from atoms_core.identity.tickets import issue_ticket
from atoms_core.protocol.contracts import TicketRequest
from atoms_core.protocol.errors import Unauthorized
from atoms_core.protocol.validation import validated


async def post_ticket(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    identity = identity_of(request.scope)
    if identity is None:
        raise Unauthorized("unauthenticated", "POST /v1/tickets needs a bearer identity token")
    body = await read_json(request.scope, request.receive, 16_384)
    ticket_request = validated(TicketRequest, body)
    ticket = issue_ticket(ctx.settings, ctx.keys, identity, ticket_request)
    await ask_app(ctx.verifier, identity, ticket.stream_id, ticket.scopes)
    ctx.metrics.tickets.inc()
    ctx.audit.record(identity.tenant_id, "ticket.issued", ticket.stream_id, identity.principal_id,
                     reason=",".join(ticket.scopes))
    return JSONResponse(ticket.model_dump(), status_code=201)
