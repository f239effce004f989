"""Shared fixtures: a real ``atoms serve`` on a free loopback port over a temporary data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import AtomsServer, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AtomsServer]:
    with running_server(tmp_path / "data") as srv:
        yield srv


@pytest.fixture
def token(server: AtomsServer) -> str:
    return server.token()
