"""Provider adapters: a streaming response of an official SDK as ``ReplyEvent``\\ s for ``ChatReply``.

Each takes the SDK's ``create(..., stream=True)`` call, awaited or not (not: a refused request then ends
the message as interrupted too). ``from_openai_chat`` reads an OpenAI Chat Completions stream (``stream=True``; also any
OpenAI-compatible server reached through ``OPENAI_BASE_URL``: vLLM, Ollama, LiteLLM), ``from_openai_responses``
an OpenAI Responses stream, ``from_anthropic`` an Anthropic Messages stream. Each yields the text as it
comes, each tool call once complete (arguments exactly as streamed), and ``Finish`` only when the
provider said it finished; an error event raises ``ProviderError``. The SDK objects are read by
attribute, so nothing here imports an SDK.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from atoms_core.client.errors import ProviderError
from atoms_core.client.reply import Finish, ReplyEvent, TextDelta, ToolCall


def _closing(read: Callable[[Any], AsyncIterator[ReplyEvent]]) -> Callable[[Any], AsyncIterator[ReplyEvent]]:
    """Accept the stream or the SDK call not yet awaited (so a refused request is an error of the
    iteration, which ``ChatReply`` records), and close the stream however the adapter ends."""

    async def adapter(stream: Any) -> AsyncIterator[ReplyEvent]:
        opened = None
        try:
            opened = await stream if inspect.isawaitable(stream) else stream
            async for event in read(opened):
                yield event
        finally:
            close = getattr(opened, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    adapter.__name__, adapter.__doc__ = read.__name__, read.__doc__
    return adapter


def _usage(usage: Any, input_name: str, output_name: str) -> dict[str, int]:
    if usage is None:
        return {}
    counts = {"input_tokens": getattr(usage, input_name, None), "output_tokens": getattr(usage, output_name, None)}
    return {key: int(value) for key, value in counts.items() if isinstance(value, int)}


@_closing
async def from_openai_chat(stream: AsyncIterable[Any]) -> AsyncIterator[ReplyEvent]:
    """``chat.completions.create(..., stream=True, stream_options={"include_usage": True})``."""
    calls: dict[int, dict[str, str]] = {}
    reason: str | None = None
    usage: dict[str, int] = {}
    async for chunk in stream:
        if getattr(chunk, "usage", None) is not None:
            usage = _usage(chunk.usage, "prompt_tokens", "completion_tokens")
        for choice in getattr(chunk, "choices", None) or []:
            if getattr(choice, "index", 0) != 0:
                continue
            delta = choice.delta
            if delta is not None and delta.content:
                yield TextDelta(delta.content)
            for part in (delta.tool_calls if delta is not None else None) or []:
                call = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                function = part.function
                call["id"] = part.id or call["id"]
                if function is not None:
                    call["name"] = function.name or call["name"]
                    call["arguments"] += function.arguments or ""
            if choice.finish_reason:
                reason = choice.finish_reason
    if reason is None:
        return  # no finish_reason: the stream was cut short (the writer marks it interrupted)
    for _, call in sorted(calls.items()):
        yield ToolCall(call["id"], call["name"], call["arguments"])
    yield Finish(reason, usage)


@_closing
async def from_openai_responses(stream: AsyncIterable[Any]) -> AsyncIterator[ReplyEvent]:
    """``responses.create(..., stream=True)``: typed events ``response.output_text.delta``, …"""
    async for event in stream:
        kind = getattr(event, "type", "")
        if kind == "response.output_text.delta":
            yield TextDelta(event.delta)
        elif kind == "response.output_item.done" and getattr(event.item, "type", "") == "function_call":
            item = event.item
            yield ToolCall(item.call_id, item.name, item.arguments)
        elif kind in ("response.completed", "response.incomplete"):
            response = event.response
            details = getattr(response, "incomplete_details", None)
            reason = getattr(details, "reason", None) if kind == "response.incomplete" else None
            yield Finish(reason or str(response.status), _usage(response.usage, "input_tokens", "output_tokens"))
            return
        elif kind == "response.failed":
            error = getattr(event.response, "error", None)
            raise ProviderError(f"response.failed: {getattr(error, 'code', '')}: {getattr(error, 'message', '')}")
        elif kind == "error":
            raise ProviderError(f"{getattr(event, 'code', None) or 'error'}: {getattr(event, 'message', '')}")


@_closing
async def from_anthropic(stream: AsyncIterable[Any]) -> AsyncIterator[ReplyEvent]:
    """``messages.create(..., stream=True)``: ``message_start``, ``content_block_*``, ``message_delta``, …"""
    blocks: dict[int, dict[str, str]] = {}
    reason: str | None = None
    usage: dict[str, int] = {}
    async for event in stream:
        kind = getattr(event, "type", "")
        if kind == "message_start":
            usage = _usage(event.message.usage, "input_tokens", "output_tokens")
        elif kind == "content_block_start" and event.content_block.type == "tool_use":
            blocks[event.index] = {"id": event.content_block.id, "name": event.content_block.name, "arguments": ""}
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                yield TextDelta(delta.text)
            elif delta.type == "input_json_delta" and event.index in blocks:
                blocks[event.index]["arguments"] += delta.partial_json
        elif kind == "content_block_stop" and event.index in blocks:
            call = blocks.pop(event.index)
            yield ToolCall(call["id"], call["name"], call["arguments"])
        elif kind == "message_delta":
            reason = event.delta.stop_reason or reason
            usage = {**usage, **_usage(event.usage, "input_tokens", "output_tokens")}
        elif kind == "message_stop":
            yield Finish(reason or "end_turn", usage)
            return
