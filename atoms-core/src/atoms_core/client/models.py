"""The models an agent can answer with: ``demo`` (no model), OpenAI (Chat Completions or Responses)
and Anthropic Messages through their official SDKs, imported only when such a model is made
(``pip install 'atoms-core[openai]'`` / ``[anthropic]``).

A model turns the conversation so far (``[{"role": "user"|"assistant", "content": str}, …]``, ending
with the user's message) into ``ReplyEvent``\\ s. Errors, including the request's own, surface while
iterating, so ``ChatReply`` records them as an interrupted message. Given the text already ``written``
into the reply (an agent restarted mid-answer), it yields only what follows that text (``resume``).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from atoms_core.client.providers import from_anthropic, from_openai_chat, from_openai_responses
from atoms_core.client.reply import Finish, ReplyEvent, TextDelta
from atoms_core.client.resume import after, overlap, repeated

Turn = dict[str, str]
ProviderName = Literal["demo", "openai", "anthropic"]

OPENERS = ["Good question.", "Let me think about that.", "Here is one way to see it.", "Noted."]
ADJECTIVES = ["quiet", "bold", "light", "layered", "open", "steady", "bright", "loose"]
NOUNS = ["canvas", "shape", "layer", "sketch", "colour", "grid", "arrow", "frame", "outline", "corner",
         "rhythm", "space", "line", "detail"]
VERBS = ["moves", "anchors", "frames", "softens", "sharpens", "connects", "echoes", "opens"]
#: Asked for something long ("a long story"), the demo reply runs to this many sentences.
LONG = re.compile(r"\blong\b", re.IGNORECASE)
LONG_SENTENCES = 40


class Model(Protocol):
    def complete(self, history: list[Turn], written: str = "") -> AsyncIterator[ReplyEvent]: ...


def continuing(history: list[Turn], written: str) -> list[Turn]:
    """``history`` with the text already ``written`` as the final assistant turn, to be continued."""
    return [*history, {"role": "assistant", "content": written}] if written else history


def reply_text(message: str) -> str:
    """The demo reply to ``message``: the same text for the same message, every time."""
    rng = random.Random(hashlib.sha256(message.encode()).digest())
    quoted = " ".join(message.split())[:60]
    sentences = [rng.choice(OPENERS), f'You wrote "{quoted}".']
    for _ in range(LONG_SENTENCES if LONG.search(message) else rng.randint(2, 4)):
        sentences.append(f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(VERBS)} "
                         f"the {rng.choice(NOUNS)} near the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}.")
    return " ".join(sentences)


def reply_tokens(message: str) -> list[str]:
    """The demo reply cut into word tokens (each keeps its trailing space), as a model would emit them."""
    return re.findall(r"\S+\s*", reply_text(message))


@dataclass
class DemoModel:
    """Today's demo agent: a deterministic reply to the last message, one word every ``delay`` s."""

    delay: float = 0.02

    async def complete(self, history: list[Turn], written: str = "") -> AsyncIterator[ReplyEvent]:
        async for event in after(self._answer(history), written, repeated):  # the same answer again
            yield event

    async def _answer(self, history: list[Turn]) -> AsyncIterator[ReplyEvent]:
        tokens = reply_tokens(history[-1]["content"] if history else "")
        for token in tokens:
            yield TextDelta(token)
            await asyncio.sleep(self.delay)
        yield Finish("stop", {"output_tokens": len(tokens)})


def _sdk(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        raise RuntimeError(f"the {name} provider needs its SDK: pip install 'atoms-core[{name}]'") from None


@dataclass
class OpenAIModel:
    """Chat Completions (``api="chat"``, what OpenAI-compatible servers speak) or Responses.

    Resumed, it sends the text already written as the final assistant message: a server that continues
    it (Ollama, vLLM with ``continue_final_message``) answers with what follows, a deterministic one
    repeats it; ``repeated`` tells the two apart by the answer's beginning."""

    model: str
    api_key: str | None = None
    base_url: str | None = None
    api: Literal["chat", "responses"] = "chat"
    max_tokens: int = 1024

    def __post_init__(self) -> None:
        # No key given: the SDK reads OPENAI_API_KEY (and OPENAI_BASE_URL) itself.
        self.client = _sdk("openai").AsyncOpenAI(api_key=self.api_key, base_url=self.base_url)

    async def complete(self, history: list[Turn], written: str = "") -> AsyncIterator[ReplyEvent]:
        turns = continuing(history, written)
        if self.api == "responses":
            events = from_openai_responses(self.client.responses.create(
                model=self.model, input=turns, stream=True, max_output_tokens=self.max_tokens))
        else:
            # OpenAI's reasoning models refuse max_tokens; vLLM and LiteLLM take max_completion_tokens too
            # (Ollama reads only max_tokens: its answers are then not capped, never refused).
            events = from_openai_chat(self.client.chat.completions.create(
                model=self.model, messages=turns, stream=True, max_completion_tokens=self.max_tokens,
                stream_options={"include_usage": True}))
        async for event in after(events, written, repeated):
            yield event


@dataclass
class AnthropicModel:
    model: str
    api_key: str | None = None
    base_url: str | None = None
    max_tokens: int = 1024

    def __post_init__(self) -> None:
        # No key given: the SDK reads ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL) itself.
        self.client = _sdk("anthropic").AsyncAnthropic(api_key=self.api_key, base_url=self.base_url)

    async def complete(self, history: list[Turn], written: str = "") -> AsyncIterator[ReplyEvent]:
        """Resumed, the text already written is a prefill the model continues; a prefill may not end in
        whitespace, so it is sent stripped and the continuation's start is matched to that whitespace."""
        prefill = written.rstrip()
        events = from_anthropic(self.client.messages.create(
            model=self.model, max_tokens=self.max_tokens, messages=continuing(history, prefill), stream=True))
        async for event in after(events, written[len(prefill):], overlap):
            yield event


def make_model(provider: ProviderName, model: str = "", *, api_key: str | None = None,
               base_url: str | None = None, openai_api: Literal["chat", "responses"] = "chat",
               max_tokens: int = 1024, delay: float = 0.02) -> Model:
    """The model ``atoms agent --provider`` names; a real provider needs a model name."""
    if provider == "demo":
        return DemoModel(delay)
    if not model:
        raise ValueError(f"the {provider} provider needs a model name (--model or agent_model)")
    if provider == "openai":
        return OpenAIModel(model, api_key, base_url, openai_api, max_tokens)
    return AnthropicModel(model, api_key, base_url, max_tokens)
