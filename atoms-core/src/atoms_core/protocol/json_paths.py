"""JSON Pointer paths into plain JSON values (dicts, lists, scalars) and the value rules RFC 6902
needs: how a pointer token indexes a container, how deep a value nests, and ``test`` equality."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import jsonpointer

ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
CONTAINERS = (dict, list)


class NotApplicable(Exception):
    """An op does not apply (becomes 422 ``patch_failed``)."""


def parts_of(pointer: str) -> list[str]:
    return jsonpointer.JsonPointer(pointer).parts


def index(container: Any, part: str) -> Any:
    """A pointer token as ``container`` reads it (jsonpointer's rule: strings index like arrays)."""
    if isinstance(container, dict):
        return part
    if isinstance(container, list | str):
        if part == "-":
            return part
        if ARRAY_INDEX.fullmatch(part) is None:
            raise NotApplicable(f"{part!r} is not a valid array index")
        return int(part)
    raise NotApplicable(f"cannot index a {type(container).__name__}")


def child(container: Any, part: str) -> Any:
    key = index(container, part)
    try:
        return container[key]
    except (KeyError, IndexError, TypeError):
        raise NotApplicable(f"{part!r} not found") from None


def resolve(root: Any, parts: Sequence[str]) -> Any:
    node = root
    for part in parts:
        node = child(node, part)
    return node


def depth(value: Any, budget: int) -> tuple[int, int]:
    """How deep containers nest in ``value`` (a scalar: 0), counted no further than ``budget`` + 1,
    and how many containers that looked at; level by level, looking only at containers."""
    level = [value] if type(value) in CONTAINERS else []
    levels = visited = 0
    while level and levels <= budget:
        levels += 1
        visited += len(level)
        level = [item for node in level for item in (node.values() if type(node) is dict else node)
                 if type(item) in CONTAINERS]
    return levels, visited


def equal(first: Any, second: Any) -> bool:
    """RFC 6902 §4.6 equality (``true`` is not ``1``), as jsonpatch compares for ``test``."""
    if isinstance(first, bool) or isinstance(second, bool):
        return isinstance(first, bool) and isinstance(second, bool) and first == second
    if isinstance(first, dict) and isinstance(second, dict):
        return len(first) == len(second) and all(k in second and equal(v, second[k]) for k, v in first.items())
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(equal(a, b) for a, b in zip(first, second, strict=True))
    return bool(first == second)


def existing(root: Any, parts: Sequence[str]) -> Any:
    """The value at ``parts`` (the whole document for none)."""
    if not parts:
        return root
    parent = resolve(root, parts[:-1])
    return child(parent, parts[-1])
