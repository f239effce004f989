"""The materialised state of one stream and the pure rules that change it.

``StreamState`` is immutable by convention: every apply returns a new one and never mutates the
document it was given, so a state may be shared by snapshots, SSE handshakes and the cache.
Replaying a snapshot plus the events after it reproduces the live state exactly (same functions).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from atoms_core.protocol.encoding import encoded_size
from atoms_core.protocol.errors import Conflict
from atoms_core.protocol.patch import Limits, append_text, apply_ops

#: How many recent token indices per target keep the seq they landed at (for duplicate replies).
TOKEN_WINDOW = 64


@dataclass(frozen=True, slots=True)
class StreamState:
    doc: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    version: int = 0
    #: target pointer -> {"last": index, "seqs": {str(index): seq}}
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``doc`` as compact JSON, in bytes, kept by every apply (measured when not given).
    size: int = -1

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", encoded_size(self.doc))

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "seq": self.seq, "version": self.version, "tokens": self.tokens}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamState:
        return cls(data["doc"], int(data["seq"]), int(data["version"]), data.get("tokens", {}))


def _forget_tokens_under(tokens: dict[str, dict[str, Any]], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """A state_patch at or above a token target resets that target's chunk counter."""
    touched = [op.get("path", "") for op in ops] + [op["from"] for op in ops if "from" in op]
    kept = {
        target: info
        for target, info in tokens.items()
        if not any(target == path or target.startswith(path + "/") or path == "" for path in touched)
    }
    return kept if len(kept) != len(tokens) else tokens


def check_token_index(state: StreamState, target: str, index: int) -> int | None:
    """Return the seq of an earlier identical chunk (a duplicate), None if ``index`` is next;
    raise 409 ``token_gap`` when chunks are missing."""
    info = state.tokens.get(target)
    expected = 0 if info is None else info["last"] + 1
    if index == expected:
        return None
    if index < expected:
        assert info is not None
        return int(info["seqs"].get(str(index), state.seq))
    raise Conflict("token_gap", f"token index {index} for {target}: expected {expected}",
                   expected_index=expected)


def _record_token(tokens: dict[str, dict[str, Any]], target: str, index: int, seq: int) -> dict[str, Any]:
    info = tokens.get(target)
    seqs = dict(info["seqs"]) if info else {}
    seqs[str(index)] = seq
    if len(seqs) > TOKEN_WINDOW:
        for old in sorted(seqs, key=int)[: len(seqs) - TOKEN_WINDOW]:
            del seqs[old]
    return {**tokens, target: {"last": index, "seqs": seqs}}


def apply_event(state: StreamState, seq: int, event_type: str, data: dict[str, Any],
                limits: Limits | None = None, blame: str | None = None) -> StreamState:
    """The one rule for how a durable event changes the state (live path and replay alike). The
    live path passes ``limits`` (and ``blame``, the payload pointer errors name when the ops are
    not the payload's own); replay does not, since a committed event is never refused."""
    if event_type == "state_patch":
        ops = data["ops"]
        doc, size = apply_ops(state.doc, ops, state.size, limits, blame)
        return StreamState(doc, seq, state.version + 1, _forget_tokens_under(state.tokens, ops), size)
    if event_type == "token_patch":
        target = data["target"]
        doc, size = append_text(state.doc, state.size, target, data["delta"], limits)
        return StreamState(doc, seq, state.version, _record_token(state.tokens, target, data["index"], seq), size)
    return replace(state, seq=seq)
