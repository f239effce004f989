"""The data dir's note of which timeline it holds (``timeline.id``), so a lost ``timeline.db`` is noticed.

The same id is stored inside the database; a file that is missing, empty or another timeline's while
the marker names one is refused at start instead of silently becoming an empty store.
"""

from __future__ import annotations

import os
from pathlib import Path


class StoreMarker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def write(self, store_id: str) -> None:
        """Atomically and durably (it outlives crashes like the database does); a no-op if unchanged."""
        if self.read() == store_id:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(store_id + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
