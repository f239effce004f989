"""The materialised state of one stream and the pure rules that change it.

``StreamState`` is immutable by convention: every apply returns a new one and never mutates the
document it was given, so a state may be shared by snapshots, SSE handshakes and the cache.
Replaying a snapshot plus the events after it reproduces the live state exactly (same functions).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

import jsonpatch
import jsonpointer

from atoms_core.errors import Conflict, Unprocessable

#: How many recent token indices per target keep the seq they landed at (for duplicate replies).
TOKEN_WINDOW = 64


@dataclass(frozen=True, slots=True)
class StreamState:
    doc: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    version: int = 0
    #: target pointer -> {"last": index, "seqs": {str(index): seq}}
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "seq": self.seq, "version": self.version, "tokens": self.tokens}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamState:
        return cls(data["doc"], int(data["seq"]), int(data["version"]), data.get("tokens", {}))


def _pointer_parts(pointer: str) -> list[str]:
    return jsonpointer.JsonPointer(pointer).parts


def _copy_spine(root: Any, parts: list[str], fresh: set[int]) -> None:
    """Replace each container on the way to ``parts`` (root excluded) by a shallow copy, so an op
    applied in place below it leaves the original document untouched. ``fresh`` holds the ids of
    containers already copied by this apply; a missing step stops the walk (the op then fails)."""
    node: Any = root
    for part in parts:
        if isinstance(node, dict):
            if part not in node:
                return
            key: Any = part
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            key = int(part)
        else:
            return
        child = node[key]
        if id(child) not in fresh:
            if isinstance(child, dict):
                child = dict(child)
            elif isinstance(child, list):
                child = list(child)
            else:
                return
            fresh.add(id(child))
            node[key] = child
        node = child


def _depth(value: Any, budget: int) -> int:
    """How deep containers nest in ``value`` (a scalar: 0), counted no further than ``budget`` + 1."""
    if isinstance(value, dict):
        children: Any = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return 0
    if budget <= 0:
        return 1
    return 1 + max((_depth(child, budget - 1) for child in children), default=0)


def _check_depth(root: Any, op: dict[str, Any], path: list[str], index: int, max_depth: int) -> None:
    """Refuse an op that would nest containers deeper than ``max_depth`` (a path of k steps puts its
    value k containers deep), so that every state stays encodable as JSON. The document already
    respects the limit, so only a written value is walked, and a copy or move only when it goes deeper."""
    kind = op.get("op")
    if kind not in ("add", "replace", "copy", "move"):
        return
    steps = len(path)
    if kind in ("add", "replace"):
        value = op.get("value")
    else:
        source = _pointer_parts(op["from"])
        if steps <= len(source):
            return
        try:
            value = jsonpointer.JsonPointer.from_parts(source).resolve(root)
        except jsonpointer.JsonPointerException:
            return  # jsonpatch refuses the op next
    depth = steps + _depth(value, max_depth - steps)
    if depth > max_depth:
        raise Unprocessable("state_too_deep", f"the op would nest the state {depth} containers deep; "
                            f"the limit is {max_depth}", pointer=f"/payload/ops/{index}")


def apply_ops(doc: dict[str, Any], ops: list[dict[str, Any]], max_depth: int | None = None) -> dict[str, Any]:
    """Apply RFC 6902 ops (jsonpatch) to a copy of ``doc``; raise 422 ``patch_failed`` without touching it,
    or 422 ``state_too_deep`` when ``max_depth`` is given and an op would exceed it.

    Path copying instead of a deep copy: only the containers an op changes (the parents of its
    ``path`` and ``from``) are copied, so a patch costs the depth of its paths, not the size of the
    canvas; everything else is shared with ``doc`` (never mutated, see StreamState).
    """
    root: Any = doc
    fresh: set[int] = set()
    try:
        for index, op in enumerate(ops):
            path = _pointer_parts(op["path"])
            if max_depth is not None:
                _check_depth(root, op, path, index, max_depth)
            if id(root) not in fresh:  # the input, or a value an op put at the root
                root = copy.copy(root)
                fresh.add(id(root))
            if op.get("op") != "test":
                _copy_spine(root, path[:-1], fresh)
                if op.get("op") == "move":
                    _copy_spine(root, _pointer_parts(op["from"])[:-1], fresh)
            root = jsonpatch.JsonPatch([op]).apply(root, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError,
            IndexError, ValueError) as exc:
        raise Unprocessable("patch_failed", f"patch does not apply: {exc}") from None
    if not isinstance(root, dict):
        raise Unprocessable("patch_failed", "the state document must stay a JSON object")
    return root


def _split_pointer(target: str) -> list[str]:
    try:
        return _pointer_parts(target)
    except jsonpointer.JsonPointerException as exc:
        raise Unprocessable("patch_failed", f"bad token target: {exc}", pointer="/payload/target") from None


def append_text(doc: dict[str, Any], target: str, delta: str) -> dict[str, Any]:
    """Return a copy of ``doc`` with ``delta`` appended to the string at ``target`` (path copying)."""
    parts = _split_pointer(target)
    if not parts:
        raise Unprocessable("patch_failed", "token target must not be the root", pointer="/payload/target")
    root = copy.copy(doc)
    node: Any = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if part not in node:
                raise Unprocessable("patch_failed", f"token target {target} does not exist",
                                    pointer="/payload/target")
            child = node[part]
            key: Any = part
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise Unprocessable("patch_failed", f"token target {target} does not exist",
                                    pointer="/payload/target")
            key = int(part)
            child = node[key]
        else:
            raise Unprocessable("patch_failed", f"token target {target} does not exist",
                                pointer="/payload/target")
        if last:
            if not isinstance(child, str):
                raise Unprocessable("patch_failed", f"token target {target} is not a string",
                                    pointer="/payload/target")
            node[key] = child + delta
        else:
            child = copy.copy(child)
            node[key] = child
            node = child
    return root


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
                max_depth: int | None = None) -> StreamState:
    """The one rule for how a durable event changes the state (live path and replay alike). The
    live path passes ``max_depth``; replay does not, since a committed event is never refused."""
    if event_type == "state_patch":
        ops = data["ops"]
        return StreamState(apply_ops(state.doc, ops, max_depth), seq, state.version + 1,
                           _forget_tokens_under(state.tokens, ops))
    if event_type == "token_patch":
        target = data["target"]
        doc = append_text(state.doc, target, data["delta"])
        return StreamState(doc, seq, state.version, _record_token(state.tokens, target, data["index"], seq))
    return replace(state, seq=seq)
