"""The resume judges: what of a restarted answer follows the text already written, whatever the split
of the answer into deltas, holding back no more text than it takes to decide."""

from __future__ import annotations

from collections.abc import AsyncIterator

from hypothesis import example, given
from hypothesis import strategies as st

from atoms_core.client.reply import Finish, ReplyEvent, TextDelta, ToolCall
from atoms_core.client.resume import Judge, after, overlap, repeated

TEXT = st.text(alphabet="ab \n🦊", max_size=12)


def split(text: str, cuts: list[int]) -> list[str]:
    """``text`` cut at the positions ``cuts`` (as a model's deltas; empty deltas included)."""
    points = sorted(min(c, len(text)) for c in cuts)
    return [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]


async def run(written: str, deltas: list[str], judge: Judge = repeated) -> tuple[str, list[int]]:
    """What ``after`` yields for ``deltas`` then a finish, and how many characters of the answer it had
    been given when each piece of text came out."""
    given_chars = 0

    async def events() -> AsyncIterator[ReplyEvent]:
        nonlocal given_chars
        for delta in deltas:
            given_chars += len(delta)
            yield TextDelta(delta)
        yield Finish("stop")

    out, when = [], []
    async for event in after(events(), written, judge):
        if isinstance(event, TextDelta):
            out.append(event.text)
            when.append(given_chars)
    return "".join(out), when


def test_an_answer_given_again_is_recognised_by_its_start_and_a_continuation_is_not() -> None:
    written = "Once upon a time, "
    assert repeated(written, "Once upon") is None, "undecided while the answer is a start of the text"
    assert repeated(written, "Once upon a time, a fox") == len(written)
    assert repeated(written, "a fox found") == 0
    assert repeated(written, "Once upon an") == 0, "departs before covering it: a continuation"
    assert repeated(written, "Once upon", ended=True) == len("Once upon"), "the same answer, shorter"
    assert repeated("", "anything") == 0


def test_a_prefill_continuation_drops_only_the_whitespace_the_message_already_has() -> None:
    assert overlap("\n\n", "\n\nIt glowed") == 2
    assert overlap("\n\n", "It glowed") == 0
    assert overlap("\n\n", "\nIt") == 1
    assert overlap("\n\n", "\n") is None
    assert overlap("\n\n", "\n", ended=True) == 1
    assert overlap(" ", " fox") == 1
    assert overlap("", "fox") == 0


@given(written=TEXT, answer=TEXT, cuts=st.lists(st.integers(0, 12), max_size=6))
@example(written="ab", answer="ab ab", cuts=[1, 3])
@example(written="ab", answer="a", cuts=[])
async def test_the_stream_yields_what_the_judge_finds_after_the_written_text_however_it_is_split(
        written: str, answer: str, cuts: list[int]) -> None:
    out, when = await run(written, split(answer, cuts))
    skip = repeated(written, answer, True)
    assert skip is not None
    assert out == answer[skip:]
    if answer.startswith(written):
        assert written + out == answer, "an answer given again: exactly its tail after the written text"
    elif not written.startswith(answer):
        assert out == answer, "a continuation: nothing of it dropped"
    if when:
        # Text comes out at the delta that decides: held back only while the answer so far is a
        # proper start of the written text (at most that long).
        deltas = split(answer, cuts)
        seen = 0
        for delta in deltas:
            seen += len(delta)
            if repeated(written, answer[:seen]) is not None:
                break
        assert when[0] == seen


@given(whitespace=st.text(alphabet=" \n", max_size=4), answer=TEXT, cuts=st.lists(st.integers(0, 12), max_size=6))
async def test_a_prefill_continuation_keeps_every_character_past_the_whitespace_it_repeats(
        whitespace: str, answer: str, cuts: list[int]) -> None:
    out, _ = await run(whitespace, split(answer, cuts), overlap)
    common = overlap(whitespace, answer, True)
    assert common is not None and answer[:common] == whitespace[:common]
    assert out == answer[common:]
    if answer.startswith(whitespace):
        assert whitespace + out == answer


async def test_a_tool_call_or_the_end_while_undecided_passes_through_after_the_text() -> None:
    async def events() -> AsyncIterator[ReplyEvent]:
        yield TextDelta("Once")
        yield ToolCall("call_1", "look", "{}")
        yield TextDelta(" more")
        yield Finish("tool_calls")

    got = [event async for event in after(events(), "Once upon", repeated)]
    assert got == [ToolCall("call_1", "look", "{}"), TextDelta(" more"), Finish("tool_calls")]
