"""The client's SSE parser against the WHATWG event-stream rules and the server's own encoder."""

from __future__ import annotations

import pytest

from atoms_core.client.sse import SseEvent, SseParser
from atoms_core.protocol.wire import PING_FRAME, retry_frame, sse_frame


def parse(*chunks: bytes) -> tuple[list[SseEvent], SseParser]:
    parser = SseParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events, parser


def bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_gives_the_same_events(eol: bytes) -> None:
    stream = eol.join([b"event: a", b"data: 1", b"", b"data: 2", b"", b""])
    events, _ = parse(stream)
    assert [(e.type, e.data) for e in events] == [("a", "1"), ("message", "2")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # Were the LF read as a second line end, the empty line would dispatch "x" early and "y" would
    # become an event of its own.
    events, _ = parse(b"data: x\r", b"\ndata: y\r", b"\n\r", b"\n")
    assert [e.data for e in events] == ["x\ny"]


def test_a_leading_bom_is_dropped_even_when_split_but_only_at_the_start() -> None:
    bom = "\ufeff".encode()
    events, _ = parse(bom[:1], bom[1:] + b"data: a\n\n", bom + b"data: b\n\n")
    assert [e.data for e in events] == ["a"]  # the second BOM makes a field named "\ufeffdata"


def test_comments_are_skipped_and_multi_line_data_joined() -> None:
    events, _ = parse(b": ping\n\ndata: one\n: inside\ndata:two\ndata\ndata:  three\n\n")
    assert [e.data for e in events] == ["one\ntwo\n\n three"]


def test_an_event_without_data_is_not_dispatched_and_its_type_is_reset() -> None:
    events, _ = parse(b"event: lonely\n\ndata: x\n\n")
    assert [(e.type, e.data) for e in events] == [("message", "x")]


def test_id_persists_across_events_and_ids_with_nul_are_ignored() -> None:
    events, parser = parse(b"id: 7\ndata: a\n\ndata: b\n\nid: 8\x00\ndata: c\n\nid\ndata: d\n\n")
    assert [(e.data, e.last_event_id) for e in events] == [("a", "7"), ("b", "7"), ("c", "7"), ("d", "")]
    assert parser.last_event_id == ""


def test_retry_takes_only_ascii_digits() -> None:
    _, parser = parse(b"retry: 2500\n\nretry: soon\n\nretry: \xd9\xa3\n\n")
    assert parser.retry_ms == 2500


def test_utf8_split_inside_a_character_and_an_unfinished_event_at_the_end() -> None:
    text = "data: héllo ✓ 🎨\n\ndata: never finished".encode()
    events, _ = parse(*bytewise(text))
    assert [e.data for e in events] == ["héllo ✓ 🎨"]


def test_the_servers_own_frames_round_trip_byte_by_byte() -> None:
    wire = (retry_frame(2000) + sse_frame("hello", '{"head_seq":0}') + PING_FRAME
            + sse_frame("state_patch", '{"seq":1}', 1) + sse_frame("token_patch", '{"seq":2}', 2))
    events, parser = parse(*bytewise(wire))
    assert [(e.type, e.data, e.last_event_id) for e in events] == [
        ("hello", '{"head_seq":0}', ""), ("state_patch", '{"seq":1}', "1"), ("token_patch", '{"seq":2}', "2")]
    assert parser.retry_ms == 2000
