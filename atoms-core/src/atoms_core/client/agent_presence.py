"""An agent as a presence peer: ``kind: "agent"`` with a ``status`` and, while it edits the canvas,
``selected``/``selection`` on the shape it edits and its cursor there — the same fields people send.

The state is what the canvas reads for its People list (``name``, ``color``, ``kind``, ``status``) and
its peers' selections (``selected``, ``selection``). Presence is ephemeral: nothing here reaches the
timeline, and an agent whose socket is down simply is not shown (the client reconnects and re-sends
the last state)."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any, Literal

from atoms_core.client.api import AtomsClient
from atoms_core.client.errors import ClientError

Status = Literal["idle", "thinking", "writing"]
#: What the canvas shows an agent as when it does not name itself.
DEFAULT_NAME = "Agent"
DEFAULT_COLOR = "#7c3aed"
#: A longer shape id is not announced: the presence state must stay within the server's size cap.
MAX_ID_CHARS = 128


def agent_state(name: str, color: str, status: Status, editing: str | None = None) -> dict[str, Any]:
    """The presence state of an agent (``editing``: the shape id it is changing, if any)."""
    state: dict[str, Any] = {"kind": "agent", "name": name, "color": color, "status": status}
    if editing is not None and len(editing) <= MAX_ID_CHARS:
        state["selected"] = editing
        state["selection"] = [editing]
    return state


class AgentPresence:
    """``async with AgentPresence(client, stream) as me: await me.status("thinking")``.

    Joins as ``idle``; keeps reading the socket in a task so that reconnects and keepalives run."""

    def __init__(self, client: AtomsClient, stream_id: str, name: str = DEFAULT_NAME,
                 color: str = DEFAULT_COLOR) -> None:
        self.presence = client.presence(stream_id)
        self.name = name
        self.color = color
        self.current: Status = "idle"
        self.editing: str | None = None
        self._reader: asyncio.Task[None] | None = None

    async def join(self) -> None:
        await self.presence.update(agent_state(self.name, self.color, "idle"))
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def status(self, status: Status) -> None:
        """Say what the agent is doing now; ``idle`` also ends any edit (no shape selected)."""
        self.current = status
        if status == "idle":
            self.editing = None
        await self.presence.update(agent_state(self.name, self.color, status, self.editing))

    async def edit(self, shape_id: str | None, x: float = 0.0, y: float = 0.0) -> None:
        """Select ``shape_id`` (None: nothing) and put the cursor at board point ``(x, y)`` on it."""
        self.editing = shape_id
        await self.presence.update(agent_state(self.name, self.color, self.current, shape_id))
        if shape_id is not None:
            await self.presence.cursor(x, y)

    async def _read(self) -> None:
        with contextlib.suppress(ClientError):
            async for _ in self.presence.messages():
                pass

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.presence.close()

    async def __aenter__(self) -> AgentPresence:
        await self.join()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
