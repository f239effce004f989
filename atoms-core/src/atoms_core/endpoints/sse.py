"""``GET /v1/streams/{stream_id}/events``: durable events over Server-Sent Events (contract §6).

A raw ASGI endpoint. Per connection: one writer coroutine, parked on its outbox while idle. On
uvicorn, the server's own cycle tells it of a disconnect (``engine/inline_send.py``); elsewhere a
second task waits on ``receive()`` for it — whichever finishes first ends the stream. The subscriber
is registered with the hub *before* the state is read, in the same step, so live frames begin exactly
after the snapshot or replay head: no gap and no duplicate, even while appends race the replay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from atoms_core.endpoints.context import Context
from atoms_core.endpoints.problems import problem_response
from atoms_core.endpoints.sse_write import write
from atoms_core.engine.hub import SLICE, Subscriber
from atoms_core.engine.inline_send import ServerCycle, server_cycle
from atoms_core.engine.lifetimes import Lease
from atoms_core.engine.openings import SharedFrame
from atoms_core.engine.partitions import PartitionLog
from atoms_core.engine.reader import TimelineGap, contiguous
from atoms_core.identity.authorize import authorize_stream
from atoms_core.protocol.codes import ResyncReason
from atoms_core.protocol.errors import AtomsError, TooManyRequests
from atoms_core.protocol.state import StreamState
from atoms_core.protocol.validation import MAX_SEQ, bounded_int
from atoms_core.protocol.wire import event_frames, hello_frame, resync_frame, retry_frame

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


class _Stream:
    """What one open stream holds until it ends: its outbox, its lease, and how it hears of a disconnect
    (uvicorn's cycle itself, else a task draining ``receive()``)."""

    __slots__ = ("cycle", "disconnect", "lease", "sub")

    def __init__(self, sub: Subscriber, lease: Lease, cycle: ServerCycle | None,
                 disconnect: asyncio.Future[None] | None) -> None:
        self.sub = sub
        self.lease = lease
        self.cycle = cycle
        self.disconnect = disconnect

    @property
    def client_gone(self) -> bool:
        if self.disconnect is not None:
            return self.disconnect.done()
        return self.cycle is not None and self.cycle.disconnected


class SseEndpoint:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # This frame lives as long as the stream, so it holds only the stream: what the opening needs
        # (the grant, the state it started from, the snapshot or replay) lives and dies in ``_open``.
        stream = await self._open(scope, receive, send)
        if stream is None:
            return
        sub = stream.sub
        try:
            with _until_cut_off(sub):
                while True:
                    await sub.wait()
                    data = sub.take()
                    if data:
                        await write(send, data)
                    if sub.closed:
                        break
                if not stream.client_gone and not (stream.cycle is not None and stream.cycle.write_paused):
                    # (a client that does not read is dropped instead: the end would wait for it forever)
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._close(stream)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> _Stream | None:
        """Authorize, subscribe and send the opening; None once the request is answered otherwise."""
        ctx = self.ctx
        try:
            grant, partition = await authorize_stream(scope, ctx.verifier, "read")
            resume_from = last_event_id(scope)
            plog = await ctx.partitions.get(partition)
            if resume_from is not None and resume_from > plog.state.seq:
                await ctx.partitions.catch_up(plog)  # another node may be ahead of this one
        except AtomsError as err:
            await problem_response(err)(scope, receive, send)
            return None
        if ctx.hub.closing:
            await problem_response(AtomsError("store_unavailable", "server is shutting down"))(
                scope, receive, send)
            return None
        try:
            ctx.sse_caps.acquire(grant.tenant_id, grant.principal_id)
        except AtomsError as err:
            await problem_response(err)(scope, receive, send)
            return None
        sub = ctx.hub.subscribe(plog.partition, ctx.settings.sse_queue_bytes)
        state = plog.state  # read in the same step as subscribe: live frames start at state.seq + 1
        try:  # encoded (or shared) in the same step too: the snapshot is of that state
            snapshot = ctx.openings.acquire(partition, state, grant.principal_id) \
                if resume_from is None or resume_from > state.seq else None
        except AtomsError as err:
            ctx.hub.unsubscribe(sub)
            ctx.sse_caps.release(grant.tenant_id, grant.principal_id)
            await problem_response(err)(scope, receive, send)
            return None
        sub.writer = asyncio.current_task()
        ctx.metrics.sse_open.inc()
        ctx.audit.record(grant.tenant_id, "sse.opened", partition.stream_id, grant.principal_id, seq=state.seq)
        cycle = server_cycle(send)
        disconnect: asyncio.Future[None] | None = None
        if cycle is not None:
            sub.write_now = cycle.write
        if cycle is None or not cycle.on_disconnect(sub.close):
            disconnect = asyncio.ensure_future(wait_disconnect(receive))
            disconnect.add_done_callback(lambda _: sub.close())
        lease = ctx.lifetimes.lease(grant.tenant_id, grant.principal_id, grant.expires_at, sub.end,
                                    issued_at=grant.issued_at, jti=grant.jti)
        stream, opened = _Stream(sub, lease, cycle, disconnect), False
        try:
            with _until_cut_off(sub):
                opened = await self._opening(send, plog, state, resume_from, snapshot, grant.principal_id)
                if not opened:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if not opened:
                self._close(stream)
        return stream if opened else None

    def _close(self, stream: _Stream) -> None:
        ctx, sub, lease = self.ctx, stream.sub, stream.lease
        ctx.lifetimes.release(lease)
        ctx.sse_caps.release(lease.tenant_id, lease.principal_id)
        ctx.hub.unsubscribe(sub)
        if stream.disconnect is not None:
            stream.disconnect.cancel()
        if stream.cycle is not None:
            stream.cycle.release()
        ctx.metrics.sse_open.dec()
        if sub.overflowed:
            ctx.metrics.sse_overflow.inc()
        ctx.audit.record(lease.tenant_id, "sse.closed", sub.partition.stream_id, lease.principal_id,
                         reason="overflow" if sub.overflowed else sub.ended)

    async def _opening(self, send: Send, plog: PartitionLog, state: StreamState, resume_from: int | None,
                       snapshot: SharedFrame | None, principal: str) -> bool:
        """Start the response and write what the stream opens with, each large part a slice at a time
        (``sse_write.py``); False if the stream must end instead (a resync refused at the openings' budget:
        the client retries). ``snapshot``, the state's frame when the opening needs one, is released here."""
        openings, stream_id = self.ctx.openings, plog.partition.stream_id
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            head = retry_frame(self.ctx.settings.sse_retry_ms) + hello_frame(stream_id, state)  # not yet sent
            if resume_from is not None and resume_from <= state.seq:
                await write(send, head)
                try:
                    if resume_from == state.seq or await self._replay(send, plog, resume_from, state.seq, principal):
                        return True
                    snapshot = openings.acquire(plog.partition, state, principal)  # the history is gone
                except TooManyRequests:
                    return False  # a replayed event or the snapshot is past the openings' budget: the client retries
                head = resync_frame(stream_id, state, ResyncReason.HISTORY_PRUNED)
            elif resume_from is not None:
                head += resync_frame(stream_id, state, ResyncReason.AHEAD_OF_HEAD)
            assert snapshot is not None
            await write(send, snapshot.data, head)
            return True
        finally:
            if snapshot is not None:
                openings.release(snapshot)

    async def _replay(self, send: Send, plog: PartitionLog, after: int, head: int, principal: str) -> bool:
        """Write the frames for seqs ``after+1 .. head`` from the store, a page at a time, each read once
        the previous one is in the transport; False if part of it is gone (the client then resyncs).
        Each page is the shortest run of events whose bodies reach a ``SLICE`` (at most ``sse_replay_page``
        events; the store cuts it), so a client that does not read holds one page of its own, not the
        history; a page larger than a slice (a large event) counts in the openings' budget while written."""
        openings, tenant = self.ctx.openings, plog.partition.tenant_id
        try:
            async for page in contiguous(self.ctx.store, plog.partition, after, head, self.ctx.settings.sse_replay_page,
                                         max_bytes=SLICE):
                data = event_frames(page)
                if len(data) <= SLICE:
                    await write(send, data)
                    continue
                with openings.holding(tenant, principal, len(data)):
                    await write(send, data)
        except TimelineGap:
            return False
        return True


@contextlib.contextmanager
def _until_cut_off(sub: Subscriber) -> Iterator[None]:
    """Writes to the client end quietly when it went away mid-write (OSError) or when an overflow or the
    lease's end cancelled the writer, which may have been stuck in a send to a client that stopped
    reading (the cancel is undone). Returning mid-response makes the server drop the connection; the
    client resumes from the timeline with Last-Event-ID. Any other cancellation goes on."""
    try:
        yield
    except OSError:
        pass
    except asyncio.CancelledError:
        if not sub.overflowed and sub.ended is None:
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
