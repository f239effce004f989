"""HTTP routes of a stream: commands (write), state and history (read)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from atoms_core.context import Context
from atoms_core.errors import AtomsError, BadRequest, PayloadTooLarge, Unprocessable
from atoms_core.http_body import read_json
from atoms_core.identity.authorize import authorize
from atoms_core.identity.principal import Grant
from atoms_core.realtime.contracts import BatchResult, CommandEnvelope
from atoms_core.realtime.streams import parse_stream_id
from atoms_core.realtime.timeline import Partition
from atoms_core.validation import validated

MAX_HISTORY_PAGE = 1000


def ctx_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _grant(request: Request, needed: str) -> tuple[Context, Grant, Partition]:
    ctx = ctx_of(request)
    stream_id = parse_stream_id(request.path_params["stream_id"])
    grant = authorize(request.scope, ctx.verifier, stream_id, needed)
    return ctx, grant, Partition(grant.tenant_id, stream_id)


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


async def post_commands(request: Request) -> Response:
    ctx, grant, partition = _grant(request, "write")
    try:
        body = await read_json(request, ctx.settings.max_body_bytes)
        ctx.sidecar_guard(body)  # before parsing: a hostile body gets a sidecar code and pointer
        envelopes, is_batch = parse_envelopes(body, partition.stream_id, ctx.settings.max_batch)
    except AtomsError as err:
        ctx.metrics.commands.labels("refused").inc()
        ctx.audit.record(grant.tenant_id, "command.refused", partition.stream_id, grant.principal_id,
                         reason=err.code)
        raise
    try:
        results = await ctx.partitions.submit(partition, grant.principal_id, envelopes)
    except AtomsError:
        ctx.metrics.commands.labels("refused").inc()
        raise
    ctx.metrics.commands.labels("accepted").inc(len(results))
    if is_batch:
        last = results[-1]
        return JSONResponse(BatchResult(results=results, seq=last.seq, version=last.version).model_dump(),
                            status_code=202)
    return JSONResponse(results[0].model_dump(), status_code=202)


async def get_state(request: Request) -> Response:
    ctx, _, partition = _grant(request, "read")
    state = (await ctx.partitions.get(partition)).state
    return JSONResponse({"stream_id": partition.stream_id, "state": state.doc, "seq": state.seq,
                         "version": state.version})


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest("bad_request", f"{name} must be an integer in [{low}, {high}]")
    return int(raw)


async def get_history(request: Request) -> Response:
    ctx, _, partition = _grant(request, "read")
    after = _int_param(request, "after", 0, 0, 2**62)
    limit = _int_param(request, "limit", 100, 1, MAX_HISTORY_PAGE)
    plog = await ctx.partitions.get(partition)
    events = await ctx.store.read(partition, after, limit)
    first, _ = await ctx.store.bounds(partition)
    # Stored events are already encoded JSON: splice them in rather than decode and re-encode.
    body = (
        '{"stream_id":' + f'"{partition.stream_id}","head_seq":{plog.state.seq},"first_seq":{first},'
        f'"next_after":{events[-1].seq if events else after},"events":['
        + ",".join(e.body for e in events) + "]}"
    )
    return Response(body, media_type="application/json")
