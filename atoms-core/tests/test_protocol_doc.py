"""docs/protocol.md stands on its own: it names no file outside this repository, and every module
and repository file it names exists (a re-layout that moves one must update the doc)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()
CODE = re.findall(r"`([^`\n]+)`", DOC)


def test_it_names_nothing_outside_the_repository() -> None:
    assert [c for c in CODE if c.startswith(("../", "/work", "~")) or "shared/" in c] == []


def test_every_module_it_names_exists() -> None:
    modules = {m for c in CODE for m in re.findall(r"\batoms_core(?:\.\w+)+", c)}
    assert modules, "the doc points readers at the modules that hold each rule"
    assert sorted(m for m in modules if importlib.util.find_spec(m) is None) == []


def test_every_repository_file_it_names_exists() -> None:
    paths = {c for c in CODE if re.fullmatch(r"(docs|atoms-core|atoms-ui|atoms-app|bench)/[\w./-]+", c)}
    assert paths, "the doc names repository files"
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []
