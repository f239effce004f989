"""``ChatAgent``: answers each new user chat message with a model's streamed reply (``demo`` by default).

It follows the stream, and for every ``chat`` message with role ``user`` that appears after the
head it first saw, posts an empty ``assistant`` message and writes the model's answer into it with a
``ChatReply``. Its own (``assistant``) messages and older ones are never answered. It is a presence
peer (``kind: agent``, status idle / thinking / writing, see ``agent_presence``) and arranges the
shapes when asked (``agent_canvas``).

The reply's message id is derived from the user message's id, and its chunk ids from that, so an agent
killed mid-answer and started again finds the unfinished reply (no ``finish_reason``, no
``interrupted``) and asks the model to continue the text already written (``Model.complete(turns,
written)``, see ``resume``), writing what follows it at the next chunk index.
A person stops a reply by setting ``stop_requested: true`` on it (``add /chat/<i>/stop_requested``);
the agent sees that on its subscription and ends the message as interrupted.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

from atoms_core.client import AtomsClient, ClientError, Control, Subscription
from atoms_core.client.agent_canvas import arrange, wants_arrange
from atoms_core.client.agent_presence import AgentPresence
from atoms_core.client.models import DemoModel, Model, Turn, reply_text, reply_tokens
from atoms_core.client.reply import ChatReply, next_index
from atoms_core.protocol.wire import EventEnvelope

__all__ = ["HISTORY_TURNS", "ChatAgent", "position", "reply_id", "reply_text", "reply_tokens"]

#: Chat messages (user and assistant) a model sees before the one it answers.
HISTORY_TURNS = 20


def position(chat: Any, message_id: str) -> int | None:
    """Where the chat message ``message_id`` is (searching from the end), if it is still there."""
    if isinstance(chat, list):
        for i in range(len(chat) - 1, -1, -1):
            if isinstance(chat[i], dict) and chat[i].get("message_id") == message_id:
                return i
    return None


def reply_id(user_message_id: str, agent: str = "agent") -> str:
    """The id of ``agent``'s reply to a user message: the same on every restart (so a restarted agent
    finds it), another for another agent, and short enough for chunk ids."""
    return "re-" + hashlib.sha256(f"{agent}\n{user_message_id}".encode()).hexdigest()[:40]


def finished(message: dict[str, Any]) -> bool:
    return "finish_reason" in message or message.get("interrupted") is True


def history(chat: list[Any], upto: int) -> list[Turn]:
    """The conversation up to and including ``chat[upto]``, as a model's input."""
    turns: list[Turn] = []
    for message in chat[: upto + 1]:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            continue
        text = message.get("text")
        if isinstance(text, str) and text:
            turns.append({"role": str(message["role"]), "content": text})
    return turns[-HISTORY_TURNS:]


class ChatAgent:
    def __init__(self, client: AtomsClient, stream_id: str, delay: float = 0.02,
                 log: Callable[[str], None] = print, model: Model | None = None, name: str = "agent",
                 think: float = 0.2, step: float = 0.1) -> None:
        self.client = client
        #: Whose replies these are (``atoms agent`` passes its principal): part of every reply id.
        self.name = name
        self.stream_id = stream_id
        self.model = model or DemoModel(delay)
        self.log = log
        #: The replies being written, by message id.
        self.active: dict[str, ChatReply] = {}
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
                    unfinished = self._unfinished(messages)
                    self.log(f"following {self.stream_id} from seq {sub.view.seq} ({seen} messages before"
                             f"{f', {len(unfinished)} unfinished replies' if unfinished else ''})")
                    for message in unfinished:
                        queue.put_nowait(message)
                continue
            if isinstance(item, EventEnvelope) and item.type.value == "state_patch":
                self._check_stops(messages)
            for message in messages[seen:]:
                if isinstance(message, dict) and message.get("role") == "user":
                    queue.put_nowait(message)
            seen = len(messages)

    def _unfinished(self, messages: list[Any]) -> list[dict[str, Any]]:
        """User messages whose reply was begun (by an agent before this one) and not ended."""
        replies = {m.get("message_id"): m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"}
        out = []
        for message in messages:
            if isinstance(message, dict) and message.get("role") == "user":
                reply = replies.get(reply_id(str(message.get("message_id")), self.name))
                if reply is not None and not finished(reply):
                    out.append(message)
        return out

    def _check_stops(self, messages: list[Any]) -> None:
        for message_id, reply in self.active.items():
            at = position(messages, message_id)
            if at is not None and messages[at].get("stop_requested") is True and not reply.stop.is_set():
                self.log(f"stop requested for /chat/{at}")
                reply.stop.set()

    async def _answer_all(self, sub: Subscription, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            message = await queue.get()
            try:
                await self.me.status("thinking")
                await asyncio.sleep(self.think)
                if wants_arrange(str(message.get("text", ""))):
                    await self.tidy()
                else:
                    await self.answer(sub, message)
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

    async def answer(self, sub: Subscription, message: dict[str, Any]) -> None:
        """Post an empty assistant message (or find the unfinished one), then write the reply into it."""
        message_id = reply_id(str(message.get("message_id")), self.name)
        chat = sub.view.doc.get("chat")
        index = position(chat, message_id)
        written, start = "", 0
        existed = index is not None
        if index is None:
            result = await self.client.command(self.stream_id, "chat.post",
                                               {"message_id": message_id, "role": "assistant", "text": ""},
                                               command_id=f"{message_id}.post")
            await sub.wait_for_seq(result.seq)
            chat = sub.view.doc.get("chat")
            index = position(chat, message_id)
            if index is None:
                self.log(f"message {message_id} is gone before the reply started")
                return
        assert isinstance(chat, list)
        reply_message = chat[index]
        if finished(reply_message):
            return
        if existed:
            written = str(reply_message.get("text", ""))
            start = await next_index(self.client.session, self.stream_id, f"/chat/{index}/text")
            self.log(f"resuming /chat/{index} after {len(written)} characters at chunk {start}")
        asked = position(chat, str(message.get("message_id")))
        turns = history(chat, asked if asked is not None else len(chat) - 1)
        reply = ChatReply(self.client.session, self.stream_id, message_id, index, start_index=start)
        if reply_message.get("stop_requested") is True:
            reply.stop.set()
        self.active[message_id] = reply
        await self.me.status("writing")
        try:
            outcome = await reply.write(self.model.complete(turns, written))
        finally:
            del self.active[message_id]
        if outcome.finish_reason == "stop_requested":
            self.log(f"stopped /chat/{index} after {len(outcome.text)} characters")
            return
        end = " (interrupted: " + str(outcome.finish_reason) + ")" if outcome.interrupted else ""
        self.log(f"answered with /chat/{index} ({len(outcome.text)} characters, {outcome.requests} requests){end}")
