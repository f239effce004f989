"""The client's materialised state: order, duplicates, gaps, resync — and the shared test vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atoms_core.client.errors import DivergedError, GapError
from atoms_core.client.view import StateView
from atoms_core.protocol.wire import EventEnvelope

VECTORS = Path(__file__).resolve().parents[3] / "docs" / "test-vectors"


def event(seq: int, type: str, data: dict[str, Any], version: int = 0) -> EventEnvelope:
    return EventEnvelope.model_validate({"id": str(seq), "seq": seq, "stream_id": "canvas:t", "type": type,
                                         "version": version, "ts": "2025-01-01T00:00:00Z", "actor": "alice",
                                         "command_id": f"c{seq}", "data": data})


def add(seq: int, path: str, value: Any, version: int) -> EventEnvelope:
    return event(seq, "state_patch", {"ops": [{"op": "add", "path": path, "value": value}]}, version)


def test_events_apply_in_order_and_duplicates_are_skipped() -> None:
    view = StateView()
    view.reset({}, 0, 0)
    assert view.apply(add(1, "/t", "", 1))
    assert view.apply(event(2, "token_patch", {"target": "/t", "delta": "ab", "index": 0}, 1))
    assert not view.apply(event(2, "token_patch", {"target": "/t", "delta": "ab", "index": 0}, 1))
    assert (view.doc, view.seq, view.version) == ({"t": "ab"}, 2, 1)


def test_a_skipped_seq_raises_a_gap_and_changes_nothing() -> None:
    view = StateView()
    view.reset({"a": 1}, 4, 2)
    with pytest.raises(GapError) as caught:
        view.apply(add(6, "/b", 2, 3))
    assert (caught.value.expected, caught.value.got) == (5, 6)
    assert (view.doc, view.seq) == ({"a": 1}, 4)


def test_resync_discards_events_until_the_snapshot_replaces_the_state() -> None:
    view = StateView()
    view.reset({"old": True}, 3, 1)
    view.begin_resync()
    assert not view.apply(add(4, "/x", 1, 2))
    view.reset({"fresh": True}, 90, 7)
    assert view.apply(add(91, "/y", 1, 8))
    assert (view.doc, view.seq, view.version) == ({"fresh": True, "y": 1}, 91, 8)


def test_an_event_that_does_not_apply_reports_divergence_and_keeps_the_state() -> None:
    view = StateView()
    view.reset({"n": 1}, 0, 0)
    with pytest.raises(DivergedError):
        view.apply(event(1, "token_patch", {"target": "/n", "delta": "x", "index": 0}))
    assert (view.doc, view.seq) == ({"n": 1}, 0)


def load_vectors() -> list[Any]:
    cases = []
    for path in sorted(VECTORS.glob("*.json")):
        for vector in json.loads(path.read_text()):
            cases.append(pytest.param(vector, id=f"{path.stem}: {vector['name']}"))
    return cases


def test_the_shared_vectors_exist() -> None:
    assert load_vectors(), f"no test vectors in {VECTORS}"


@pytest.mark.parametrize("vector", load_vectors())
def test_shared_vector_gives_the_expected_state(vector: dict[str, Any]) -> None:
    """The same files run in atoms-ui's suite: both clients must reach the same document."""
    events = [EventEnvelope.model_validate(e) for e in vector["events"]]
    view = StateView()
    view.reset(vector["initial"], events[0].seq - 1 if events else 0, 0)
    for envelope in events:
        assert view.apply(envelope)
    assert view.doc == vector["expected"]
