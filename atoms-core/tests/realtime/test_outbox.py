"""The bounded outbox shared by SSE subscribers and WebSocket peers (``engine/outbox.py``), held to one
contract for both: a parked writer wakes for a frame and for a close; an overflow drops what is pending
and closes the connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from atoms_core.engine.hub import SLICE, Subscriber
from atoms_core.engine.inline_send import chunked
from atoms_core.engine.presence import Peer
from atoms_core.protocol.timeline import Partition

LIMIT = 100


def sse() -> tuple[Subscriber, Callable[[int], Any]]:
    sub = Subscriber(Partition("t1", "canvas:a"), LIMIT)
    return sub, lambda n: sub.push(b"x" * n, chunked(b"x" * n))


def ws() -> tuple[Peer, Callable[[int], Any]]:
    peer = Peer("p1", "alice", LIMIT, 0.0)
    return peer, lambda n: peer.push("x" * n)


KINDS = pytest.mark.parametrize("make", [sse, ws], ids=["sse", "ws"])


async def parked(outbox: Subscriber | Peer) -> asyncio.Future[None]:
    waiting = asyncio.ensure_future(outbox.wait())
    await asyncio.sleep(0)
    assert not waiting.done(), "nothing pending: the writer parks"
    return waiting


@KINDS
async def test_a_parked_writer_wakes_for_a_frame(make: Callable[[], tuple[Subscriber | Peer, Any]]) -> None:
    outbox, push = make()
    waiting = await parked(outbox)
    push(10)
    await asyncio.wait_for(waiting, 1)
    assert outbox.take() and not outbox.closed


@KINDS
def test_an_overflow_drops_what_is_pending_and_closes(make: Callable[[], tuple[Subscriber | Peer, Any]]) -> None:
    outbox, push = make()
    push(60)
    push(30)
    assert not outbox.closed
    push(20)  # 110 bytes pending > 100
    assert outbox.closed and outbox.overflowed
    assert not outbox.take(), "what was pending is dropped: the client starts over"
    push(1)
    assert not outbox.take(), "nothing is queued once closed"


def test_a_lone_frame_over_the_bound_overflows_an_sse_subscriber_but_not_a_ws_peer() -> None:
    sub, push_sse = sse()
    push_sse(LIMIT + 1)
    assert sub.overflowed
    peer, push_ws = ws()
    push_ws(LIMIT + 1)  # a large presence.snapshot never counts as slowness
    assert not peer.closed and peer.take() == "x" * (LIMIT + 1)


@KINDS
async def test_a_close_wakes_the_parked_writer(make: Callable[[], tuple[Subscriber | Peer, Any]]) -> None:
    outbox, _ = make()
    waiting = await parked(outbox)
    if isinstance(outbox, Peer):
        outbox.close(1001, "idle_timeout")
    else:
        outbox.close()
    await asyncio.wait_for(waiting, 1)
    assert outbox.closed and not outbox.overflowed
    await asyncio.wait_for(outbox.wait(), 1)  # a closed outbox never parks again


def test_an_sse_writer_takes_at_most_a_slice_of_its_own() -> None:
    """Queued frames are shared by every subscriber of the partition; a joined piece is the connection's
    own copy, which stays in its write buffer if the client stops reading. So a piece joins frames up to
    one ``SLICE`` only, and a larger frame comes alone, as the shared object (the writer slices it)."""
    sub = Subscriber(Partition("t1", "canvas:a"), 10 * SLICE)
    frames = [bytes([65 + i]) * (SLICE // 3) for i in range(4)] + [b"B" * (2 * SLICE), b"c" * 10, b"d" * 10]
    for frame in frames:
        sub.push(frame, chunked(frame))
    pieces = [sub.take() for _ in range(4)]
    assert [len(p) for p in pieces] == [3 * (SLICE // 3), SLICE // 3, 2 * SLICE, 20]
    assert pieces[2] is frames[4], "a frame over a slice is handed over as it is, not copied"
    assert b"".join(pieces) == b"".join(frames) and sub.take() == b""
    assert not sub.overflowed
