"""The one reader of a partition's timeline: pages of stored events after a seq, with one gap policy.

A reader that rebuilds or replays (the state cache, SSE resume) needs every seq in order, so
``contiguous`` raises ``TimelineGap`` at the first missing one and each caller decides what a gap means
(503 on load, ``resync`` for a live cache or a resuming client). ``/history`` pages over what is retained
(``page``): a pruned prefix is no error there, the answer's ``first_seq`` shows it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from atoms_core.protocol.errors import Unavailable
from atoms_core.protocol.timeline import Partition, StoredEvent, StoreUnavailable, TimelineStore, page_bytes

#: Events per store read when rebuilding a partition's state, and the bytes of their bodies (a page
#: of large events is cut short, so a rebuild holds one small page at a time, not 1000 large events).
READ_PAGE = 1000
READ_PAGE_BYTES = 4 * 1024 * 1024


class TimelineGap(StoreUnavailable):
    """The store no longer holds the events right after the cached seq (pruned or lost)."""


async def contiguous(store: TimelineStore, partition: Partition, after: int, through: int | None = None,
                     page_size: int = READ_PAGE, max_bytes: int | None = None) -> AsyncIterator[list[StoredEvent]]:
    """Pages of the events ``after+1 .. through`` (to the store's head if ``through`` is None), every seq
    present and in order, each at most ``page_size`` events (and ``max_bytes`` of bodies, past one event);
    ``TimelineGap`` at the first missing one, before the page that lacks it."""
    expected = after + 1
    while through is None or expected <= through:
        limit = page_size if through is None else min(page_size, through - expected + 1)
        events = await store.read(partition, expected - 1, limit, max_bytes)
        for event in events:
            if event.seq != expected:
                raise TimelineGap(f"timeline gap at {expected} in {partition}")
            expected += 1
        full = len(events) == limit or (max_bytes is not None and events != [] and page_bytes(events) >= max_bytes)
        if not full and through is not None:
            raise TimelineGap(f"timeline gap at {expected} in {partition}")
        if events:
            yield events
        if not full:
            return


async def page(store: TimelineStore, partition: Partition, after: int, limit: int) -> list[StoredEvent]:
    """Up to ``limit`` retained events after ``after``, each checked intact (a damaged row is a 503,
    never spliced into a JSON answer nor a 500). Events pruned before the first retained one are no gap."""
    events = await store.read(partition, after, limit)
    for event in events:
        try:
            intact = isinstance(event.body, str) and _seq_of(event.body).seq == event.seq
        except msgspec.DecodeError:
            intact = False
        if not intact:
            raise Unavailable("store_unavailable", f"stored event {event.seq} is damaged")
    return events


def stored_data(event: StoredEvent) -> Any:
    """An event's ``data`` as stored; a body that no longer decodes is a store fault (503), not a 500."""
    try:
        return json.loads(event.body)["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreUnavailable(f"stored event {event.seq} is damaged") from exc


class _Seq(msgspec.Struct):
    seq: int


_seq_of = msgspec.json.Decoder(_Seq).decode
