"""``ChatReply``: one model answer written into one chat message, so every subscriber rebuilds it.

A provider adapter (``atoms_core.client.providers``) turns a streaming response into ``TextDelta``,
``ToolCall`` and ``Finish`` events; ``ChatReply.write`` streams the text into ``/chat/<i>/text`` as
``token.append`` chunks (a ``TokenStreamer`` whose chunk ids are ``<message_id>.<index>``) and ends the
message with one batch: a ``state.patch`` recording ``finish_reason``, ``usage`` and ``tool_calls``
under the message, then the ``final`` chunk. A provider error, a dropped connection, a stream that ends
without the provider's finish, or a stop request end it the same way with ``interrupted: true`` — never
as a silently short answer.

Resume: the chunk and end command ids depend only on the message id and chunk index, so a writer
started again for the same message (``start_index`` = the target's next chunk index, see
``next_index``) continues at that index and nothing it sends twice lands twice. What it writes is the
model's continuation of the text already there (``atoms_core.client.resume``): no token is duplicated
or lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atoms_core.client import commands
from atoms_core.client.errors import ProblemError
from atoms_core.client.session import Session
from atoms_core.client.tokens import TokenStreamer

if TYPE_CHECKING:
    from atoms_core.client.api import AtomsClient

#: An index no stream reaches: a probe chunk there is refused with the next index (409 token_gap).
PROBE_INDEX = 2**53
#: Longest provider error message kept under the message.
ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call; ``arguments`` is the JSON text exactly as the model streamed it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Finish:
    """The provider's own end of the answer (``stop``, ``length``, ``tool_calls``, ``end_turn``, …)."""

    reason: str
    usage: dict[str, int] = field(default_factory=dict)


ReplyEvent = TextDelta | ToolCall | Finish


@dataclass(slots=True)
class ReplyOutcome:
    """What ``ChatReply.write`` recorded under the message."""

    text: str = ""
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    error: dict[str, str] | None = None
    requests: int = 0

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"finish_reason": self.finish_reason, "usage": self.usage}
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        if self.interrupted:
            out["interrupted"] = True
        if self.error is not None:
            out["error"] = self.error
        return out


async def next_index(session: Session, stream_id: str, target: str) -> int:
    """The next chunk index of ``target``, asked of the server (the state document does not hold it);
    a refused command appends nothing."""
    probe = commands.envelope(stream_id, "token.append", {"target": target, "delta": "", "index": PROBE_INDEX})
    try:
        await commands.post(session, stream_id, probe)
    except ProblemError as err:
        if err.code == "token_gap" and err.problem is not None:
            return int(err.problem["expected_index"])
        raise
    raise RuntimeError(f"probe index {PROBE_INDEX} of {target} was accepted")


class ChatReply:
    """The writer of one assistant message at ``/chat/<position>``, id ``message_id``."""

    def __init__(self, session: Session, stream_id: str, message_id: str, position: int, *,
                 start_index: int = 0, interval: float | None = None) -> None:
        self.session = session
        self.stream_id = stream_id
        self.message_id = message_id
        self.pointer = f"/chat/{position}"
        self.stop = asyncio.Event()
        options: dict[str, Any] = {"start_index": start_index, "streamer_id": message_id}
        if interval is not None:
            options["interval"] = interval
        self.streamer = TokenStreamer(session, stream_id, f"{self.pointer}/text", **options)

    @classmethod
    async def post(cls, client: AtomsClient, stream_id: str, message_id: str | None = None,
                   **options: Any) -> ChatReply:
        """Post an empty assistant message (``chat.post``) and return the writer of its text."""
        message_id = message_id or f"reply-{uuid.uuid4().hex}"
        await client.command(stream_id, "chat.post", {"message_id": message_id, "role": "assistant", "text": ""},
                             command_id=f"{message_id}.post")
        chat = (await client.state(stream_id))["state"].get("chat", [])
        at = next(i for i in range(len(chat) - 1, -1, -1) if chat[i].get("message_id") == message_id)
        return cls(client.session, stream_id, message_id, at, **options)

    async def write(self, events: AsyncIterator[ReplyEvent]) -> ReplyOutcome:
        """Stream ``events`` into the message and end it; ``self.stop.set()`` ends it early."""
        outcome = ReplyOutcome()
        reader = asyncio.ensure_future(self._read(events, outcome))
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait([reader, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not reader.done():
                reader.cancel()
                outcome.interrupted = True
                outcome.finish_reason = "stop_requested"
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
            await _aclose(events)
        await self.streamer.flush()
        await self.streamer.abort()
        await self._end(outcome)
        outcome.requests = self.streamer.requests + 1
        return outcome

    async def _read(self, events: AsyncIterator[ReplyEvent], outcome: ReplyOutcome) -> None:
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    outcome.text += event.text
                    self.streamer.write(event.text)
                elif isinstance(event, ToolCall):
                    outcome.tool_calls.append({"id": event.id, "name": event.name, "arguments": event.arguments})
                else:
                    outcome.finish_reason, outcome.usage = event.reason, dict(event.usage)
        except Exception as exc:  # the provider's error or a dropped connection, whatever the SDK
            outcome.interrupted = True
            outcome.finish_reason = "error"
            outcome.error = {"type": type(exc).__name__, "message": str(exc)[:ERROR_CHARS]}
            return
        if outcome.finish_reason is None:
            outcome.interrupted = True
            outcome.finish_reason = "incomplete"
            outcome.error = {"type": "Incomplete", "message": "the stream ended before the provider finished"}

    async def _end(self, outcome: ReplyOutcome) -> None:
        """One batch: the fields under the message, then the final chunk; idempotent by its ids."""
        ops = [{"op": "add", "path": f"{self.pointer}/{key}", "value": value}
               for key, value in outcome.fields().items()]
        index = self.streamer.index
        batch = [
            commands.envelope(self.stream_id, "state.patch", {"ops": ops}, f"{self.message_id}.end"),
            commands.envelope(self.stream_id, "token.append",
                              {"target": self.streamer.target, "delta": "", "index": index, "final": True},
                              f"{self.message_id}.{index}"),
        ]
        await commands.post(self.session, self.stream_id, batch)


async def _aclose(events: AsyncIterator[ReplyEvent]) -> None:
    """Close an adapter's generator (and so the SDK stream under it) once it is no longer read."""
    close = getattr(events, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
