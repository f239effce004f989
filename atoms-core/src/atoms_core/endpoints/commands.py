"""``POST /v1/streams/{stream_id}/commands``: every durable change enters here (contract §5).

A raw ASGI endpoint, like SSE: it is the write hot path, and the Starlette exception and routing
layers would cost more than the rest of the HTTP handling. It still sits behind RequestIdMiddleware
and IdentityMiddleware (``asgi.py``), and answers every refusal with problem+json.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import Receive, Scope, Send

from atoms_core.endpoints.context import Context
from atoms_core.endpoints.http_body import read_json
from atoms_core.endpoints.problems import refuse
from atoms_core.identity.authorize import authorize_stream
from atoms_core.protocol.contracts import BatchResult, CommandEnvelope, CommandResult
from atoms_core.protocol.encoding import dumps
from atoms_core.protocol.errors import AtomsError, BadRequest, PayloadTooLarge, Unprocessable
from atoms_core.protocol.validation import validated

log = logging.getLogger("atoms.commands")


def parse_envelopes(body: Any, stream_id: str, max_batch: int) -> tuple[list[CommandEnvelope], bool]:
    is_batch = isinstance(body, list)
    items = body if is_batch else [body]
    if not items:
        raise BadRequest("bad_request", "an empty batch has nothing to do")
    if len(items) > max_batch:
        raise PayloadTooLarge("batch_too_large", f"a batch holds at most {max_batch} commands")
    envelopes: list[CommandEnvelope] = []
    for i, item in enumerate(items):
        prefix = f"/{i}" if is_batch else ""
        envelope = validated(CommandEnvelope, item, prefix)
        if envelope.stream_id != stream_id:
            raise Unprocessable("stream_mismatch", "envelope stream_id must equal the stream in the path",
                                pointer=prefix + "/stream_id")
        envelopes.append(envelope)
    return envelopes, is_batch


def accepted_body(results: list[CommandResult], is_batch: bool) -> bytes:
    """202 body: the CommandResult, or for a batch ``{results, seq, version}`` of the last command."""
    if not is_batch:
        return dumps(results[0].model_dump()).encode()
    last = results[-1]
    return dumps(BatchResult(results=results, seq=last.seq, version=last.version).model_dump()).encode()


async def send_json(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class CommandEndpoint:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._handle(scope, receive, send)
        except AtomsError as err:
            self.ctx.metrics.commands_refused.inc()
            await refuse(err, scope, receive, send)
        except Exception:
            log.exception("command failed")
            self.ctx.metrics.commands_failed.inc()
            await refuse(AtomsError("internal_error", "the command could not be processed"), scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = self.ctx
        grant, partition = await authorize_stream(scope, ctx.verifier, "write")
        stream_id = partition.stream_id
        try:
            body = await read_json(scope, receive, ctx.settings.max_body_bytes)
            ctx.sidecar_guard(body)  # before parsing: a hostile body gets a sidecar code and pointer
            envelopes, is_batch = parse_envelopes(body, stream_id, ctx.settings.max_batch)
        except AtomsError as err:
            ctx.audit.record(grant.tenant_id, "command.refused", stream_id, grant.principal_id, reason=err.code)
            raise
        results = await ctx.partitions.submit(partition, grant.principal_id, envelopes)
        ctx.metrics.commands_accepted.inc(len(results))
        await send_json(send, 202, accepted_body(results, is_batch))
