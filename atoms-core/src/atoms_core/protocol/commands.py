"""What each command type means: a pure decision from (state, command) to the event it appends.

Validation happens here, before anything is committed; a refused command raises a problem error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from atoms_core.protocol.contracts import (
    ChatPostPayload,
    CommandEnvelope,
    CommandType,
    LogAppendPayload,
    SnapshotCreatePayload,
    StatePatchPayload,
    TokenAppendPayload,
)
from atoms_core.protocol.errors import Conflict, Unprocessable
from atoms_core.protocol.state import StreamState, check_token_index
from atoms_core.protocol.validation import validated

PAYLOADS: dict[CommandType, type[BaseModel]] = {
    CommandType.STATE_PATCH: StatePatchPayload,
    CommandType.CHAT_POST: ChatPostPayload,
    CommandType.TOKEN_APPEND: TokenAppendPayload,
    CommandType.LOG_APPEND: LogAppendPayload,
    CommandType.SNAPSHOT_CREATE: SnapshotCreatePayload,
}


@dataclass(frozen=True, slots=True)
class Decision:
    """The event a command appends, or a duplicate token chunk's earlier seq (append nothing)."""

    event_type: str
    data: dict[str, Any]
    duplicate_of_seq: int | None = None
    #: The payload pointer a refusal of the produced state names, when the ops are not the payload's.
    blame: str | None = None


def validate_payload(command: CommandEnvelope) -> Any:
    return validated(PAYLOADS[command.type], command.payload, "/payload")


def decide(state: StreamState, command: CommandEnvelope, actor: str, ts: str) -> Decision:
    if command.base_version is not None and command.base_version != state.version:
        raise Conflict("version_conflict", f"base_version {command.base_version} is not current",
                       current_version=state.version)
    payload = validate_payload(command)
    if isinstance(payload, StatePatchPayload):
        # Whether the ops apply is decided by apply_event, which the caller runs next.
        return Decision("state_patch", {"ops": [op.model_dump(by_alias=True, exclude_unset=True)
                                                for op in payload.ops]})
    if isinstance(payload, ChatPostPayload):
        chat = state.doc.get("chat")
        ops: list[dict[str, Any]] = []
        if chat is None:
            ops.append({"op": "add", "path": "/chat", "value": []})
            position = 0
        elif isinstance(chat, list):
            position = len(chat)
        else:
            raise Unprocessable("patch_failed", "/chat exists and is not an array", pointer="/payload")
        message = {
            "message_id": payload.message_id or command.command_id,
            "role": payload.role,
            "text": payload.text,
            "author": actor,
            "ts": ts,
        }
        ops.append({"op": "add", "path": f"/chat/{position}", "value": message})
        return Decision("state_patch", {"ops": ops}, blame="/payload/text")
    if isinstance(payload, TokenAppendPayload):
        earlier = check_token_index(state, payload.target, payload.index)
        data = payload.model_dump()
        if earlier is not None:
            return Decision("token_patch", data, duplicate_of_seq=earlier)
        return Decision("token_patch", data)
    if isinstance(payload, LogAppendPayload):
        return Decision("log", payload.model_dump(exclude_none=True))
    return Decision("snapshot_created", {})
