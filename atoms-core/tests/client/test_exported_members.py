"""The public API of ``atoms_core.client``: exactly these names, and the exception tree its docs draw.

A name added to or dropped from the package is an API change a user notices; this list makes it a
deliberate one. Internals (the SSE parser, the backoff, the HTTP session) stay importable from their
modules but are not part of the package's surface.
"""

from __future__ import annotations

import inspect
import re
import types

import atoms_core.client
from atoms_core.client import errors

EXPORTED = [
    "AtomsClient",
    "ChatReply",
    "ClientError",
    "CommandError",
    "Control",
    "DivergedError",
    "Finish",
    "GapError",
    "GetToken",
    "Item",
    "Presence",
    "ProblemError",
    "ProtocolError",
    "ProviderError",
    "ReplyEvent",
    "ReplyOutcome",
    "StateView",
    "Subscription",
    "SyncClient",
    "TextDelta",
    "TokenStreamer",
    "ToolCall",
    "envelope",
    "from_anthropic",
    "from_openai_chat",
    "from_openai_responses",
]


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(atoms_core.client.__all__) == EXPORTED


def test_the_package_exposes_nothing_beyond_all() -> None:
    public = {name for name, value in vars(atoms_core.client).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public == set(EXPORTED)


def test_star_import_gives_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from atoms_core.client import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == EXPORTED


def test_internals_are_not_exported() -> None:
    for internal in ("SseParser", "SseEvent", "Backoff", "Session"):
        assert not hasattr(atoms_core.client, internal), internal


def drawn_tree(doc: str) -> dict[str, str | None]:
    """``{class: parent}`` read from the box drawing in a module docstring."""
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in doc.splitlines():
        match = re.match(r"^    ((?:│   |    )*)(?:[├└]── )?([A-Z]\w+Error)\b", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4 + (1 if "── " in line else 0)
        del stack[depth:]
        parents[match.group(2)] = stack[-1] if stack else None
        stack.append(match.group(2))
    return parents


def test_the_exception_tree_in_the_docstring_is_the_class_tree() -> None:
    drawn = drawn_tree(errors.__doc__ or "")
    actual = {name: (cls.__base__.__name__ if cls.__base__ is not Exception else None)
              for name, cls in inspect.getmembers(errors, inspect.isclass)
              if issubclass(cls, Exception) and cls.__module__ == errors.__name__}
    assert drawn == actual
    assert drawn["GapError"] == drawn["DivergedError"] == "ClientError"
    for name in drawn:
        assert name in EXPORTED, f"{name} is raised to users, so it is exported"


def test_every_exported_exception_is_in_the_drawn_tree_under_client_error() -> None:
    exported = {name for name in EXPORTED
                if inspect.isclass(cls := getattr(atoms_core.client, name)) and issubclass(cls, Exception)}
    assert exported == set(drawn_tree(errors.__doc__ or ""))
    assert all(issubclass(getattr(atoms_core.client, name), atoms_core.client.ClientError) for name in exported)
