"""Artifact fixtures: an S3-compatible server (moto's server mode, real HTTP on loopback) and Atoms servers
on each artifact backend."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifact_api import MotoS3

from servers import AtomsServer, running_server, spawn_listening

BUCKET = "atoms-artifacts-test"


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc, port = spawn_listening(lambda port: [sys.executable, "-m", "moto.server", "-p", str(port), "-H", "127.0.0.1"],
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        moto = MotoS3(f"http://127.0.0.1:{port}", BUCKET)
        moto.client().create_bucket(Bucket=BUCKET)
        yield moto
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def start_backend(backend: str, data_dir: Path, request: pytest.FixtureRequest) -> Iterator[AtomsServer]:
    env = request.getfixturevalue("moto_s3").server_env() if backend == "s3" else {}
    with running_server(data_dir, env=env) as server:
        yield server


@pytest.fixture(scope="module", params=["local", "s3"])
def backend_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """One Atoms server per artifact backend: the embedded store, then S3 (moto)."""
    yield from start_backend(request.param, tmp_path_factory.mktemp(request.param) / "data", request)


@pytest.fixture(scope="module")
def local_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    yield from start_backend("local", tmp_path_factory.mktemp("local") / "data", request)


@pytest.fixture(scope="module")
def s3_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    yield from start_backend("s3", tmp_path_factory.mktemp("s3") / "data", request)
