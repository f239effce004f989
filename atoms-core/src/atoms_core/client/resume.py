"""Resume after a restart: which part of the model's new answer follows the text already written.

A restarted agent sends the text already in the message back to the model as the final assistant
turn. Anthropic continues that turn (a prefill) by construction; a prefill may not end in whitespace,
so it goes out stripped, and the model's continuation starts where the stripped text ends: ``overlap``
finds how much of its start is the whitespace the message already has. An OpenAI-compatible server may
continue the turn too (Ollama; vLLM with ``continue_final_message``), or, deterministic, answer the
same text again: ``repeated`` judges the new answer by its beginning, and ``after`` applies a judge to
a stream of ``ReplyEvent``\\ s, holding back text only until the judge decides.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from atoms_core.client.reply import ReplyEvent, TextDelta

#: ``judge(written, head, ended)``: how many leading characters of ``head`` (the new answer so far) are
#: already written, or ``None`` while that is undecided and more of the answer is needed.
Judge = Callable[[str, str, bool], int | None]


def repeated(written: str, head: str, ended: bool = False) -> int | None:
    """How many leading characters of ``head`` repeat ``written``: all of ``written`` once ``head``
    starts with it (the answer given again), ``0`` once ``head`` departs from it before covering it (a
    continuation: nothing of it is written yet), ``None`` while ``head`` is a start of ``written``.
    An answer that ``ended`` (or turned to a tool call) undecided was the same answer, shorter: all of
    ``head`` is a repeat."""
    if head.startswith(written):
        return len(written)
    if written.startswith(head):
        return len(head) if ended else None
    return 0


def overlap(whitespace: str, head: str, ended: bool = False) -> int | None:
    """How many leading characters of ``head`` (a continuation of a prefill stripped of the trailing
    ``whitespace`` the message has) are that whitespace again: their common start, once ``head``
    covers ``whitespace``, departs from it, or ``ended``."""
    common = next((i for i, (a, b) in enumerate(zip(whitespace, head, strict=False)) if a != b),
                  min(len(whitespace), len(head)))
    if common == len(whitespace) or common < len(head) or ended:
        return common
    return None


async def after(events: AsyncIterator[ReplyEvent], written: str, judge: Judge) -> AsyncIterator[ReplyEvent]:
    """``events`` without the text ``judge`` finds already ``written``. Text is held back only until
    the judge decides (no more than ``written`` and the delta that decides); other events pass as they
    come, the first one deciding as if the text had ended."""
    head = ""
    decided = not written
    async for event in events:
        if decided:
            yield event
            continue
        text = isinstance(event, TextDelta)
        if isinstance(event, TextDelta):
            head += event.text
        skip = judge(written, head, not text)
        if skip is None:
            continue
        decided = True
        if rest := head[skip:]:
            yield TextDelta(rest)
        if not text:
            yield event
    if not decided and (rest := head[judge(written, head, True) or 0:]):  # the stream ended undecided
        yield TextDelta(rest)
