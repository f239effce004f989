"""The demo agent: answers each new user chat message with a streamed reply (no model).

It follows the stream, and for every ``chat`` message with role ``user`` that appears after the
head it first saw, posts an empty ``assistant`` message and streams a deterministic reply into its
``text`` with a ``TokenStreamer``. Its own (``assistant``) messages and older ones are never answered.
It is a presence peer (``kind: agent``, status idle / thinking / writing, see ``agent_presence``),
stops a reply someone asked to stop (``agent_stop``), and arranges the shapes when asked
(``agent_canvas``).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from atoms_core.client import AtomsClient, ClientError, Control, Subscription
from atoms_core.client.agent_canvas import arrange, wants_arrange
from atoms_core.client.agent_presence import AgentPresence
from atoms_core.client.agent_stop import end_interrupted, stop_requested

OPENERS = ["Good question.", "Let me think about that.", "Here is one way to see it.", "Noted."]
ADJECTIVES = ["quiet", "bold", "light", "layered", "open", "steady", "bright", "loose"]
NOUNS = ["canvas", "shape", "layer", "sketch", "colour", "grid", "arrow", "frame", "outline", "corner",
         "rhythm", "space", "line", "detail"]
VERBS = ["moves", "anchors", "frames", "softens", "sharpens", "connects", "echoes", "opens"]
#: Asked for something long ("a long story"), the demo reply runs to this many sentences.
LONG = re.compile(r"\blong\b", re.IGNORECASE)
LONG_SENTENCES = 40


def reply_text(message: str) -> str:
    """The reply to ``message``: the same text for the same message, every time."""
    rng = random.Random(hashlib.sha256(message.encode()).digest())
    quoted = " ".join(message.split())[:60]
    sentences = [rng.choice(OPENERS), f'You wrote "{quoted}".']
    for _ in range(LONG_SENTENCES if LONG.search(message) else rng.randint(2, 4)):
        sentences.append(f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(VERBS)} "
                         f"the {rng.choice(NOUNS)} near the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}.")
    return " ".join(sentences)


def reply_tokens(message: str) -> list[str]:
    """The reply cut into word tokens (each keeps its trailing space), as a model would emit them."""
    return re.findall(r"\S+\s*", reply_text(message))


def position(chat: Any, message_id: str) -> int | None:
    """Where the chat message ``message_id`` is (searching from the end), if it is still there."""
    if isinstance(chat, list):
        for i in range(len(chat) - 1, -1, -1):
            if isinstance(chat[i], dict) and chat[i].get("message_id") == message_id:
                return i
    return None


class ChatAgent:
    def __init__(self, client: AtomsClient, stream_id: str, delay: float = 0.02,
                 log: Callable[[str], None] = print, think: float = 0.2, step: float = 0.1) -> None:
        self.client = client
        self.stream_id = stream_id
        self.delay = delay
        self.log = log
        #: Seconds spent ``thinking`` before a reply, and per shape moved when arranging.
        self.think = think
        self.step = step
        self.me = AgentPresence(client, stream_id)

    async def run(self) -> None:
        """Follow the stream and answer until cancelled (each run joins presence afresh)."""
        self.me = AgentPresence(self.client, self.stream_id)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with self.client.subscribe(self.stream_id) as sub, self.me, asyncio.TaskGroup() as tasks:
            tasks.create_task(self._answer_all(sub, queue))
            tasks.create_task(self._watch(sub, queue))

    async def _watch(self, sub: Subscription, queue: asyncio.Queue[dict[str, Any]]) -> None:
        seen: int | None = None  # chat messages below this index are answered or predate us
        async for item in sub.items():
            if isinstance(item, Control) and item.kind == "disconnected":
                self.log(f"disconnected ({item.data['reason']}); resuming after seq {item.data['seq']}")
            chat = sub.view.doc.get("chat")
            messages = chat if isinstance(chat, list) else []
            if seen is None:
                if isinstance(item, Control) and item.kind == "state_snapshot":
                    seen = len(messages)
                    self.log(f"following {self.stream_id} from seq {sub.view.seq} ({seen} messages before)")
                continue
            for message in messages[seen:]:
                if isinstance(message, dict) and message.get("role") == "user":
                    queue.put_nowait(message)
            seen = len(messages)

    async def _answer_all(self, sub: Subscription, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            message = await queue.get()
            text = str(message.get("text", ""))
            try:
                await self.me.status("thinking")
                await asyncio.sleep(self.think)
                if wants_arrange(text):
                    await self.tidy()
                else:
                    await self.answer(sub, text)
            except ClientError as err:
                self.log(f"could not answer {message.get('message_id')}: {err}")
            finally:
                await self.me.status("idle")

    async def tidy(self) -> None:
        """Arrange the shapes (one patch, retried on conflict), then say so in the chat."""
        await self.me.status("writing")
        moved = await arrange(self.client, self.stream_id, self.me, self.step, self.log)
        text = f"Arranged {moved} shapes in a grid." if moved else "The shapes are already in a grid."
        await self.client.command(self.stream_id, "chat.post", {"role": "assistant", "text": text})
        self.log(f"arranged {moved} shapes")

    async def answer(self, sub: Subscription, text: str) -> None:
        """Post an empty assistant message, then stream the reply into its ``text``."""
        message_id = f"agent-{uuid.uuid4().hex}"
        result = await self.client.command(self.stream_id, "chat.post",
                                           {"message_id": message_id, "role": "assistant", "text": ""})
        await sub.wait_for_seq(result.seq)
        index = position(sub.view.doc.get("chat"), message_id)
        if index is None:
            self.log(f"message {message_id} is gone before the reply started")
            return
        tokens = reply_tokens(text)
        await self.me.status("writing")
        sent = 0
        async with self.client.token_streamer(self.stream_id, f"/chat/{index}/text") as streamer:
            for token in tokens:
                if stop_requested(sub.view.doc, index, message_id):
                    break
                streamer.write(token)
                sent += 1
                await asyncio.sleep(self.delay)
        if sent < len(tokens):
            await end_interrupted(self.client, self.stream_id, index, message_id)
            self.log(f"stopped /chat/{index} after {sent} of {len(tokens)} tokens")
            return
        self.log(f"answered with /chat/{index} ({len(tokens)} tokens, {streamer.requests} requests)")
