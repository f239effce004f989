"""A real ``redis-server`` for tests (a subprocess on a free loopback port, restartable, stopped after),
and two ``atoms serve`` nodes sharing one.

Without the binary the test is skipped locally, but fails under ``CI=true`` (``make install`` puts it
there), so the Redis engine is never silently untested in CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from servers import AtomsServer, spawn_listening, wait_port


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (make install adds it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


class RedisServer:
    """``appendfsync always`` by default, so a SIGKILL loses nothing that was acknowledged."""

    def __init__(self, workdir: Path, persist: bool = True) -> None:
        self.workdir = workdir
        self.persist = persist
        self.port = 0  # picked at the first start, kept by restarts
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        def argv(port: int) -> list[str]:
            return [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", *aof,
                    "--dir", str(self.workdir)]

        with (self.workdir / "redis.log").open("ab") as log:
            if self.port:
                self.proc = subprocess.Popen(argv(self.port), stdout=log, stderr=subprocess.STDOUT)
                wait_port("127.0.0.1", self.port, proc=self.proc)
            else:
                self.proc, self.port = spawn_listening(argv, stdout=log, stderr=subprocess.STDOUT)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def wipe(self) -> None:
        """Forget everything on disk (for a restart that loses history)."""
        assert self.proc is None, "stop the server first"
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def running_redis(workdir: Path, persist: bool = True) -> Iterator[RedisServer]:
    server = RedisServer(workdir, persist).start()
    try:
        yield server
    finally:
        server.stop()


Nodes = tuple[RedisServer, AtomsServer, AtomsServer]


@contextmanager
def two_nodes(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[Nodes]:
    """Nodes A and B with ``engine = "redis"`` on one data dir (so one set of signing keys) and one Redis;
    B reads the Redis URL through a ``secret://`` reference."""
    with running_redis(tmp_path / "redis") as server:
        common = {"ATOMS_ENGINE": "redis", **(env or {})}
        node_a = AtomsServer(tmp_path / "data", env={**common, "ATOMS_REDIS_URL": server.url})
        node_b = AtomsServer(tmp_path / "data", env={**common, "ATOMS_REDIS_URL": "secret://env/NODE_REDIS_URL",
                                                     "NODE_REDIS_URL": server.url})
        node_a.token()  # creates the shared dev keys before two processes race to
        try:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(AtomsServer.start, (node_a, node_b)))
            yield server, node_a, node_b
        finally:
            node_b.stop()
            node_a.stop()
