"""The official ``openai`` and ``anthropic`` SDKs, pointed at a server replaying recorded event streams,
piped by the adapters into a chat message of a real ``atoms serve``: every subscriber rebuilds the exact
text, the tool calls, the finish reason and usage, and an error or a dropped stream ends as interrupted."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from client_support import Follower, until

from atoms_core.client import (
    AtomsClient,
    ChatReply,
    ReplyEvent,
    from_anthropic,
    from_openai_chat,
    from_openai_responses,
)
from provider_replay import STREAMS, ReplayServer
from servers import AtomsServer

TEXT = "Hello! The sky is often blue — but at dusk it turns 橙色 and 🌅 pink.\n\nCafé au lait?"
TOOL_CALLS = {
    "openai": [{"id": "call_Xq3bZ8lQw1", "name": "get_weather", "arguments": '{"city":"Paris","unit":"c"}'},
               {"id": "call_Yk7cN2pRt4", "name": "get_weather", "arguments": '{"city":"Tokyo"}'}],
    "anthropic": [{"id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
                   "arguments": '{"city":"Paris","unit":"c"}'},
                  {"id": "toolu_01B7ZkP3c5R4", "name": "get_weather", "arguments": '{"city":"Tokyo"}'}],
}
VIEWERS = 3
Open = Callable[[str], AsyncIterator[ReplyEvent]]


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


def provider(replay: ReplayServer, kind: str) -> Open:
    """``kind``'s SDK call with ``stream=True`` for the recording ``model`` (not awaited: the adapter
    does), as the adapter's input."""
    history = [{"role": "user", "content": "What colour is the sky?"}]
    oai = openai.AsyncOpenAI(api_key="sk-test", base_url=f"{replay.url}/v1", max_retries=0)
    claude = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=replay.url, max_retries=0)

    def chat(model: str) -> AsyncIterator[ReplyEvent]:
        return from_openai_chat(oai.chat.completions.create(
            model=model, messages=history, stream=True, stream_options={"include_usage": True}))  # type: ignore[arg-type]

    def responses(model: str) -> AsyncIterator[ReplyEvent]:
        return from_openai_responses(oai.responses.create(model=model, input=history, stream=True))  # type: ignore[arg-type]

    def messages(model: str) -> AsyncIterator[ReplyEvent]:
        return from_anthropic(claude.messages.create(model=model, max_tokens=256, messages=history,  # type: ignore[arg-type]
                                                     stream=True))

    return {"openai_chat": chat, "openai_responses": responses, "anthropic": messages}[kind]


async def write_reply(server: AtomsServer, open_stream: Open, model: str) -> tuple[list[Follower], dict[str, Any]]:
    """Post an assistant message, pipe the provider into it, return the viewers once it has ended."""
    stream = f"canvas:p-{uuid.uuid4().hex[:12]}"
    async with AtomsClient(server.url, lambda: server.token(principal="bot")) as client:
        viewers = [Follower(client.subscribe(stream)) for _ in range(VIEWERS)]
        await until(lambda: all(v.sub.view.has_state for v in viewers), what="viewers")
        message_id = "reply-1"
        await client.command(stream, "chat.post", {"message_id": message_id, "role": "assistant", "text": ""})
        outcome = await ChatReply(client.session, stream, message_id, 0).write(open_stream(model))

        def ended(v: Follower) -> bool:
            chunks = [e for e in v.events if e.type.value == "token_patch"]
            return bool(chunks) and chunks[-1].data["final"]

        await until(lambda: all(ended(v) for v in viewers), what="the final chunk at every viewer")
        for viewer in viewers:
            await viewer.stop()
        return viewers, {"outcome": outcome}


def rebuilt(viewer: Follower) -> dict[str, Any]:
    message: dict[str, Any] = viewer.sub.view.doc["chat"][0]
    chunks = [e.data for e in viewer.events if e.type.value == "token_patch"]
    assert [c["index"] for c in chunks] == list(range(len(chunks))), "chunks in order, none twice, none lost"
    assert [c["final"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert "".join(c["delta"] for c in chunks) == message["text"]
    return message


KINDS = ["openai_chat", "openai_responses", "anthropic"]
FINISH = {"openai_chat": ("stop", "tool_calls"), "openai_responses": ("completed", "completed"),
          "anthropic": ("end_turn", "tool_use")}


def recorded_usage(kind: str, model: str) -> dict[str, int]:
    """The usage in the recording itself (its last usage object), read without any SDK."""
    found: dict[str, int] = {}
    for line in (STREAMS / kind / f"{model}.sse").read_text().splitlines():
        if not line.startswith("data: {"):
            continue
        data = json.loads(line[6:])
        usage = data.get("usage") or (data.get("response") or {}).get("usage") or \
            (data.get("message") or {}).get("usage")
        if usage:
            found.update({k: v for k, v in {"input_tokens": usage.get("input_tokens", usage.get("prompt_tokens")),
                                            "output_tokens": usage.get("output_tokens",
                                                                       usage.get("completion_tokens"))}.items()
                          if v is not None})
    return found


@pytest.mark.parametrize("kind", KINDS)
async def test_a_streamed_answer_is_rebuilt_exactly_by_every_viewer(shared_server: AtomsServer, replay: ReplayServer,
                                                                    kind: str) -> None:
    viewers, _ = await write_reply(shared_server, provider(replay, kind), "text")
    for viewer in viewers:
        message = rebuilt(viewer)
        assert message["text"] == TEXT
        assert message["finish_reason"] == FINISH[kind][0]
        assert message["usage"] == recorded_usage(kind, "text") and message["usage"]["output_tokens"] > 0
        assert "interrupted" not in message and "tool_calls" not in message
        assert len([e for e in viewer.events if e.type.value == "token_patch"]) > 1, "streamed, not one piece"


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_calls_and_their_arguments_are_recorded_under_the_message(
        shared_server: AtomsServer, replay: ReplayServer, kind: str) -> None:
    viewers, _ = await write_reply(shared_server, provider(replay, kind), "tools")
    for viewer in viewers:
        message = rebuilt(viewer)
        assert message["text"] == "Let me check."
        assert message["tool_calls"] == TOOL_CALLS["anthropic" if kind == "anthropic" else "openai"]
        assert message["finish_reason"] == FINISH[kind][1]
        assert "interrupted" not in message


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("model", "kept"), [("error", 6), ("drop", 9)])
async def test_an_error_or_a_dropped_stream_ends_the_message_as_interrupted(
        shared_server: AtomsServer, replay: ReplayServer, kind: str, model: str, kept: int) -> None:
    viewers, result = await write_reply(shared_server, provider(replay, kind), model)
    prefix = "Hello! The sky is often blue — but at dusk"
    for viewer in viewers:
        message = rebuilt(viewer)
        assert message["text"] == "".join(["Hello", "!", " The", " sky", " is", " often", " blue", " —", " but"][:kept])
        assert prefix.startswith(message["text"])
        assert message["interrupted"] is True and message["finish_reason"] == "error"
        assert message["error"]["type"] and message["error"]["message"]
    assert result["outcome"].interrupted


async def test_a_stream_that_ends_without_the_providers_finish_is_interrupted_not_short(
        shared_server: AtomsServer, replay: ReplayServer, tmp_path: Path) -> None:
    """A clean end of the HTTP body with no ``finish_reason`` / ``[DONE]`` is a cut, not an answer."""
    cut = tmp_path / "openai_chat"
    cut.mkdir()
    lines = (STREAMS / "openai_chat" / "text.sse").read_text().split("\n\n")
    (cut / "cut.sse").write_text("\n\n".join(lines[:5]) + "\n\n")
    with ReplayServer(tmp_path) as short:
        viewers, _ = await write_reply(shared_server, provider(short, "openai_chat"), "cut")
    message = rebuilt(viewers[0])
    assert message["text"] == "Hello! The sky"
    assert message["interrupted"] is True and message["finish_reason"] == "incomplete"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_refused_request_ends_the_empty_message_as_interrupted(shared_server: AtomsServer,
                                                                       replay: ReplayServer, kind: str) -> None:
    """The provider answers 404 before any event: the message is not left waiting for ever."""
    viewers, _ = await write_reply(shared_server, provider(replay, kind), "missing")
    message = rebuilt(viewers[0])
    assert message["text"] == "" and message["interrupted"] is True and message["finish_reason"] == "error"
    assert "no recording" in message["error"]["message"]
