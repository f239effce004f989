"""Id charsets are defined once (``atoms_core.protocol.ids``) and reach atoms-ui through Ids.json.

A second hand-written copy is how server and client come to disagree on what a stream id is; this
fails on one anywhere in the shipped sources of atoms-core, atoms-ui and atoms-app.
"""

from __future__ import annotations

import json
from pathlib import Path

from atoms_core.protocol import ids

ROOT = Path(__file__).resolve().parents[2]
HOME = ROOT / "atoms-core" / "src" / "atoms_core" / "protocol" / "ids.py"
SOURCES = [*(ROOT / "atoms-core" / "src").rglob("*.py"), *(ROOT / "atoms-ui" / "src").rglob("*.ts"),
           *(ROOT / "atoms-app" / "src").rglob("*.ts")]
GENERATED = ROOT / "atoms-ui" / "src" / "generated"


def test_no_source_holds_its_own_copy_of_an_id_charset() -> None:
    copies = [f"{path.relative_to(ROOT)}: {name}"
              for path in SOURCES if path != HOME and GENERATED not in path.parents
              for name, pattern in ids.PATTERNS.items() if name != "stream_id" and pattern in path.read_text()]
    assert copies == []


def test_ids_json_publishes_every_charset_anchored() -> None:
    published = json.loads((ROOT / "docs" / "schemas" / "Ids.json").read_text())["$defs"]
    assert {d["pattern"] for d in published.values()} == {ids.anchored(p) for p in ids.PATTERNS.values()}


def test_the_generated_typescript_holds_the_same_patterns() -> None:
    generated = (GENERATED / "contracts.ts").read_text()
    for pattern in ids.PATTERNS.values():
        assert f"/{ids.anchored(pattern).replace('/', chr(92) + '/')}/;" in generated
