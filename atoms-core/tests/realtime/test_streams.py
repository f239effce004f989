"""The canonical stream key (contract §2), property-based."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoms_core.protocol.errors import BadRequest
from atoms_core.protocol.streams import parse_stream_id, stream_key

VALID_ID = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
ANY_TEXT = st.text(max_size=200)
VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@given(VALID_ID, st.none() | VALID_ID, st.none() | VALID_ID)
def test_thread_wins_over_canvas_and_run(thread: str, canvas: str | None, run: str | None) -> None:
    assert stream_key(thread, canvas, run) == f"thread:{thread}"


@given(VALID_ID, st.none() | VALID_ID)
def test_canvas_wins_over_run(canvas: str, run: str | None) -> None:
    assert stream_key(canvas_id=canvas, run_id=run) == f"canvas:{canvas}"


@given(VALID_ID)
def test_run_alone_and_round_trip(run: str) -> None:
    key = stream_key(run_id=run)
    assert key == f"run:{run}" and parse_stream_id(key) == key


@given(ANY_TEXT)
def test_invalid_ids_are_refused(value: str) -> None:
    if VALID.fullmatch(value):
        assert stream_key(canvas_id=value) == f"canvas:{value}"
    else:
        with pytest.raises(BadRequest) as info:
            stream_key(canvas_id=value)
        assert info.value.code == "invalid_stream_id"


@given(ANY_TEXT)
def test_parse_accepts_only_canonical_forms(value: str) -> None:
    kind, _, rest = value.partition(":")
    ok = kind in ("thread", "canvas", "run") and VALID.fullmatch(rest) is not None
    if ok:
        assert parse_stream_id(value) == value
    else:
        with pytest.raises(BadRequest):
            parse_stream_id(value)


def test_none_given_is_an_error() -> None:
    with pytest.raises(BadRequest, match="required"):
        stream_key()


@pytest.mark.parametrize("bad", ["", "-x", ".x", "a/b", "a:b", "a b", "x" * 129, "ü", "a\n", "../etc"])
def test_examples_refused(bad: str) -> None:
    with pytest.raises(BadRequest):
        stream_key(thread_id=bad)
