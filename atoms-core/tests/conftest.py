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


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """One server for a whole module whose tests use streams of their own."""
    with running_server(tmp_path_factory.mktemp("shared") / "data") as srv:
        yield srv
