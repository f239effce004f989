"""Stop-and-interrupt for an agent's streamed reply, read from the timeline (not a side channel).

A person stops a reply with a ``state.patch`` adding ``/chat/<i>/stop_requested`` = true on the
streaming message. An agent checks ``stop_requested`` between tokens (its subscription's view is
current to the last event it read), stops writing, and ends the message with ``interrupted: true``
(``end_interrupted``). Both helpers take the message's index *and* id, and the patch is guarded by a
``test`` op on the id, so a chat that changed under the agent is never marked in the wrong place."""

from __future__ import annotations

from typing import Any

from atoms_core.client.api import AtomsClient


def stop_requested(doc: dict[str, Any], index: int, message_id: str) -> bool:
    """Whether someone asked the reply ``message_id`` at ``/chat/<index>`` to stop."""
    chat = doc.get("chat")
    if not isinstance(chat, list) or not 0 <= index < len(chat):
        return False
    message = chat[index]
    return (isinstance(message, dict) and message.get("message_id") == message_id
            and message.get("stop_requested") is True)


def interrupted_ops(index: int, message_id: str) -> list[dict[str, Any]]:
    """The patch that marks ``/chat/<index>`` interrupted, only if it is still ``message_id``."""
    return [{"op": "test", "path": f"/chat/{index}/message_id", "value": message_id},
            {"op": "add", "path": f"/chat/{index}/interrupted", "value": True}]


async def end_interrupted(client: AtomsClient, stream_id: str, index: int, message_id: str) -> None:
    """Mark the reply interrupted (after its token stream was closed), as every page then shows it."""
    await client.command(stream_id, "state.patch", {"ops": interrupted_ops(index, message_id)})
