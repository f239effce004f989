"""``GET /v1/streams/{stream_id}/events``: durable events over Server-Sent Events (contract §6).

A raw ASGI endpoint. Per connection: one writer coroutine and one waiter on ``receive()`` for the
disconnect — whichever finishes first ends the stream. The subscriber is registered with the hub
*before* the state is read, in the same step, so live frames begin exactly after the snapshot or
replay head: no gap and no duplicate, even while appends race the replay.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from atoms_core.endpoints.context import Context
from atoms_core.endpoints.problems import problem_response
from atoms_core.engine.inline_send import inline_writer
from atoms_core.engine.partitions import PartitionLog
from atoms_core.engine.reader import TimelineGap, contiguous
from atoms_core.identity.authorize import authorize_stream
from atoms_core.protocol.codes import ResyncReason
from atoms_core.protocol.errors import AtomsError
from atoms_core.protocol.state import StreamState
from atoms_core.protocol.timeline import StoredEvent
from atoms_core.protocol.validation import MAX_SEQ, bounded_int
from atoms_core.protocol.wire import event_frames, hello_frame, resync_frames, retry_frame, snapshot_frame

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def last_event_id(scope: Scope) -> int | None:
    raw: str | None = None
    for name, value in scope["headers"]:
        if name == b"last-event-id":
            raw = value.decode("latin-1").strip()
    if raw is None:
        for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
            if key == "last_event_id":
                raw = value.strip()
    if raw is None or raw == "":
        return None
    return bounded_int(raw, "Last-Event-ID", 0, MAX_SEQ)


async def wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class SseEndpoint:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = self.ctx
        try:
            grant, partition = await authorize_stream(scope, ctx.verifier, "read")
            stream_id = partition.stream_id
            resume_from = last_event_id(scope)
            plog = await ctx.partitions.get(partition)
            if resume_from is not None and resume_from > plog.state.seq:
                await ctx.partitions.catch_up(plog)  # another node may be ahead of this one
        except AtomsError as err:
            await problem_response(err)(scope, receive, send)
            return
        if ctx.hub.closing:
            await problem_response(AtomsError("store_unavailable", "server is shutting down"))(
                scope, receive, send)
            return
        try:
            ctx.sse_caps.acquire(grant.tenant_id, grant.principal_id)
        except AtomsError as err:
            await problem_response(err)(scope, receive, send)
            return
        sub = ctx.hub.subscribe(partition, ctx.settings.sse_queue_bytes)
        sub.writer = asyncio.current_task()
        sub.write_now = inline_writer(send)
        state = plog.state  # read in the same step as subscribe: live frames start at state.seq + 1
        ctx.metrics.sse_open.inc()
        ctx.audit.record(grant.tenant_id, "sse.opened", stream_id, grant.principal_id, seq=state.seq)
        disconnect = asyncio.ensure_future(wait_disconnect(receive))
        disconnect.add_done_callback(lambda _: sub.close())
        ended: list[str] = []  # why the lease ended the stream: credentials expired or revoked

        def end(reason: str) -> None:
            ended.append(reason)
            sub.close()

        lease = ctx.lifetimes.lease(grant.tenant_id, grant.principal_id, grant.expires_at, end,
                                    issued_at=grant.issued_at, jti=grant.jti)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            opening = await self._opening(plog, stream_id, state, resume_from)
            await send({"type": "http.response.body", "body": opening, "more_body": True})
            while True:
                await sub.wait()
                data = sub.take()
                if data:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                if sub.closed:
                    break
            if not disconnect.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-write
        except asyncio.CancelledError:
            if not sub.overflowed:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            # Cut off at the buffer bound: returning mid-response makes the server drop the
            # connection; the client resumes from the timeline with Last-Event-ID.
        finally:
            ctx.lifetimes.release(lease)
            ctx.sse_caps.release(grant.tenant_id, grant.principal_id)
            ctx.hub.unsubscribe(sub)
            disconnect.cancel()
            ctx.metrics.sse_open.dec()
            if sub.overflowed:
                ctx.metrics.sse_overflow.inc()
            ctx.audit.record(grant.tenant_id, "sse.closed", stream_id, grant.principal_id,
                             reason="overflow" if sub.overflowed else (ended[0] if ended else None))

    async def _opening(self, plog: PartitionLog, stream_id: str, state: StreamState,
                       resume_from: int | None) -> bytes:
        ctx = self.ctx
        out = [retry_frame(ctx.settings.sse_retry_ms), hello_frame(stream_id, state)]
        if resume_from is None:
            out.append(snapshot_frame(stream_id, state))
            return b"".join(out)
        if resume_from == state.seq:
            return b"".join(out)
        if resume_from < state.seq:
            replay = await self._replay(plog, resume_from, state.seq)
            if replay is not None:
                out.append(replay)
                return b"".join(out)
            reason = ResyncReason.HISTORY_PRUNED
        else:
            reason = ResyncReason.AHEAD_OF_HEAD
        out.append(resync_frames(stream_id, state, reason))
        return b"".join(out)

    async def _replay(self, plog: PartitionLog, after: int, head: int) -> bytes | None:
        """Frames for seqs ``after+1 .. head`` from the store, or None if part of it is gone."""
        frames: list[StoredEvent] = []
        page_size = self.ctx.settings.sse_replay_page
        try:
            async for page in contiguous(self.ctx.store, plog.partition, after, head, page_size):
                frames.extend(page)
        except TimelineGap:
            return None
        return event_frames(frames)
