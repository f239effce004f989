"""HTTP reads of a stream: state and history (commands: ``command_endpoint.py``)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from atoms_core.endpoints.context import Context
from atoms_core.identity.authorize import authorize_stream
from atoms_core.protocol.errors import Unavailable
from atoms_core.protocol.principal import Grant
from atoms_core.protocol.timeline import Partition, StoredEvent, StoreUnavailable
from atoms_core.protocol.validation import MAX_SEQ, bounded_int

MAX_HISTORY_PAGE = 1000


class _Seq(msgspec.Struct):
    seq: int


_seq_of = msgspec.json.Decoder(_Seq).decode


def ctx_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def _grant(request: Request, needed: str) -> tuple[Context, Grant, Partition]:
    ctx = ctx_of(request)
    grant, partition = await authorize_stream(request.scope, ctx.verifier, needed)
    return ctx, grant, partition


async def get_state(request: Request) -> Response:
    ctx, _, partition = await _grant(request, "read")
    state = (await ctx.partitions.get(partition)).state
    return JSONResponse({"stream_id": partition.stream_id, "state": state.doc, "seq": state.seq,
                         "version": state.version})


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    return bounded_int(raw, name, low, high)


def check_intact(events: list[StoredEvent]) -> None:
    """503 unless every stored body is one JSON object naming its own seq: a damaged row is a store
    fault, never spliced into a page (an invalid JSON answer) nor a 500."""
    for event in events:
        try:
            intact = isinstance(event.body, str) and _seq_of(event.body).seq == event.seq
        except msgspec.DecodeError:
            intact = False
        if not intact:
            raise Unavailable("store_unavailable", f"stored event {event.seq} is damaged")


async def get_history(request: Request) -> Response:
    ctx, _, partition = await _grant(request, "read")
    after = _int_param(request, "after", 0, 0, MAX_SEQ)
    limit = _int_param(request, "limit", 100, 1, MAX_HISTORY_PAGE)
    try:
        events = await ctx.store.read(partition, after, limit)
        first, head = await ctx.store.bounds(partition)  # the store's head: no state load for a page
    except StoreUnavailable as exc:
        raise Unavailable("store_unavailable", "the timeline store is unreachable") from exc
    check_intact(events)
    # Stored events are already encoded JSON: splice them in rather than decode and re-encode.
    body = (
        '{"stream_id":' + f'"{partition.stream_id}","head_seq":{head},"first_seq":{first},'
        f'"next_after":{events[-1].seq if events else after},"events":['
        + ",".join(e.body for e in events) + "]}"
    )
    return Response(body, media_type="application/json")
