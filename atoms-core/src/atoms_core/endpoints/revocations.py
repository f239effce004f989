"""``POST /v1/revocations``: an admin of the tenant ends a principal's credentials (or one token).

Tokens and tickets issued before the revocation are refused from then on (401 ``token_revoked``) and
the principal's open streams and sockets close — on every node (the listeners of ``Revocations``).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from atoms_core.endpoints.context import Context
from atoms_core.endpoints.http_body import read_json
from atoms_core.identity.authorize import identity_grant, identity_of
from atoms_core.identity.revocations import Revocation
from atoms_core.protocol.contracts import RevocationRequest, RevocationResponse
from atoms_core.protocol.errors import Unauthorized, Unprocessable
from atoms_core.protocol.principal import is_principal_id
from atoms_core.protocol.validation import validated


async def post_revocation(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    identity = identity_of(request.scope)
    if identity is None:
        raise Unauthorized("unauthenticated", "POST /v1/revocations needs a bearer identity token")
    identity_grant(identity, None, "admin", ctx.verifier)  # 403 not_granted without the admin scope
    body = validated(RevocationRequest, await read_json(request.scope, request.receive, 4096))
    if not is_principal_id(body.principal_id):
        raise Unprocessable("validation_failed", "principal_id is not a principal id", pointer="/principal_id")
    revocation = Revocation(identity.tenant_id, body.principal_id, time.time(), body.jti)
    await ctx.verifier.revocations.revoke(revocation)
    ctx.audit.record(identity.tenant_id, "principal.revoked", None, identity.principal_id,
                     reason=f"{body.principal_id}{' jti ' + body.jti if body.jti else ''}")
    response = RevocationResponse(tenant_id=revocation.tenant_id, principal_id=revocation.principal_id,
                                  jti=revocation.jti, revoked_at=revocation.revoked_at)
    return JSONResponse(response.model_dump(), status_code=201)
