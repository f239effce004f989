"""One server per embedded data dir: an advisory lock held for the server's life, naming its holder.

The SQLite timeline is owned by one process; a second server on the same data dir is told who holds
it and how to proceed, in one line, before it opens anything.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO

from atoms_core.config.settings import ConfigError

LOCK_NAME = "server.lock"


class DataDirBusy(ConfigError):
    """Another ``atoms serve`` holds the data dir."""


def lock_data_dir(data_dir: Path, url: str) -> TextIO:
    """Take the data dir's lock (released when the returned file closes or the process ends)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / LOCK_NAME).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DataDirBusy(f"{data_dir} is in use by another atoms server ({holder}); use that server, stop it, "
                          "or start this one with its own --data-dir and --port") from None
    name_holder(handle, url)
    return handle


def name_holder(handle: TextIO, url: str) -> None:
    """Write who holds the lock; called again once the port is bound (``--port 0`` picks one then)."""
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, {url}\n")
    handle.flush()
