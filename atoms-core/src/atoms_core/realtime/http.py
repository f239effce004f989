"""HTTP reads of a stream: state and history (commands: ``command_endpoint.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from atoms_core.context import Context
from atoms_core.errors import BadRequest
from atoms_core.identity.authorize import authorize_stream
from atoms_core.identity.principal import Grant
from atoms_core.realtime.timeline import Partition

MAX_HISTORY_PAGE = 1000


def ctx_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _grant(request: Request, needed: str) -> tuple[Context, Grant, Partition]:
    ctx = ctx_of(request)
    return ctx, *authorize_stream(request.scope, ctx.verifier, needed)


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
