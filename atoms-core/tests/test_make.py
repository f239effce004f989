"""``make install`` is incremental: once it has run, a second run has nothing to do (no pip, no npm)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_install_after_install_has_nothing_to_redo() -> None:
    # `make test` runs `install` first, so every stamp is newer than its inputs here.
    plan = subprocess.run(["make", "-n", "--no-print-directory", "install"], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=60).stdout
    for step in ("pip install", "npm ci", "npm run build"):
        assert step not in plan, f"make install would redo {step!r}:\n{plan}"
