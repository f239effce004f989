"""Real servers for tests: ``atoms serve`` as a subprocess on a free loopback port, and helpers; the same
app served in the test's own process where a test must watch its parts (``serving_in_process``)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from atoms_core.endpoints.context import Context

ATOMS = str(Path(sys.executable).with_name("atoms"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not open in {timeout}s")


def spawn_listening(argv_for: Callable[[int], list[str]], attempts: int = 3,
                    **popen: Any) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server that cannot bind port 0 for us on a free port, trying another if it lost the race.

    The port is free when picked but not reserved: another socket may take it before the server binds.
    """
    for _ in range(attempts - 1):
        port = free_port()
        proc = subprocess.Popen(argv_for(port), **popen)
        with contextlib.suppress(RuntimeError):  # it exited: the port was taken meanwhile
            wait_port("127.0.0.1", port, proc=proc)
            return proc, port
    port = free_port()
    proc = subprocess.Popen(argv_for(port), **popen)
    wait_port("127.0.0.1", port, proc=proc)
    return proc, port


STARTUP = re.compile(rb"atoms: serving https?://[^ ]*?:(\d+)[/ ]")


def wait_startup(log_path: Path, proc: subprocess.Popen[bytes], timeout: float = 20.0, offset: int = 0) -> int:
    """The port ``atoms serve --port 0`` bound, read from its startup line (no race for a free port).

    Picking a free port first and passing it leaves a window in which any other socket on the machine
    (a test's outgoing connection takes an ephemeral port from the same range) may take it.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = STARTUP.search(log_path.read_bytes()[offset:]) if log_path.exists() else None
        if match:
            return int(match.group(1))
        if proc.poll() is not None:
            tail = log_path.read_bytes()[-2000:].decode(errors="replace") if log_path.exists() else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {tail}")
        time.sleep(0.05)
    raise TimeoutError(f"no startup line in {log_path} after {timeout}s")


_LOGS = itertools.count(1)  # servers may share a data dir (redis nodes): each has its own log


class AtomsServer:
    """One ``atoms serve`` process; restartable on the same data dir and port.

    Without a ``port`` the first start binds port 0 and learns the port from the startup line;
    restarts reuse it.
    """

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None,
                 port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or 0
        self.env = {**os.environ, **(env or {})}
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{data_dir.name}-{next(_LOGS)}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AtomsServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0  # this start's lines follow
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [ATOMS, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir),
                 *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=self.env,
            )
        self.port = wait_startup(self.log_path, self.proc, offset=offset)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> AtomsServer:
        self.stop()
        return self.start()

    def token(self, tenant: str = "acme", principal: str = "alice", roles: str = "", ttl: int = 3600,
              grants: dict[str, list[str]] | None = None) -> str:
        """An identity JWT, minted in-process by the same code as ``atoms token`` (no subprocess)."""
        from atoms_core.config.settings import load_settings
        from atoms_core.config.vault import loader_for
        from atoms_core.identity.keys import load_keyring
        from atoms_core.identity.tickets import mint_identity_token

        settings = load_settings(cli={"data_dir": self.data_dir}, environ=self.env)
        keys = load_keyring(settings, loader_for(settings, self.env))
        return mint_identity_token(settings, keys, tenant, principal, [r for r in roles.split(",") if r], ttl,
                                   grants)

    def signed_identity(self, **claims: object) -> str:
        """An identity JWT signed by hand with the dev key, for claims ``token`` never writes."""
        import jwt

        key = (self.data_dir / "secrets" / "jwt-dev.key").read_text().strip()
        base: dict[str, object] = {"iss": "atoms-dev", "aud": "atoms", "sub": "alice", "tenant_id": "acme",
                                   "exp": int(time.time()) + 60}
        return jwt.encode({**base, **claims}, key, algorithm="HS256", headers={"kid": "dev"})

    def cli(self, *args: str) -> str:
        out = subprocess.run([ATOMS, *args], capture_output=True, text=True, check=True, env=self.env, timeout=30)
        return out.stdout

    def ticket(self, stream_id: str, scopes: list[str], token: str | None = None, **extra: Any) -> str:
        response = httpx.post(f"{self.url}/v1/tickets", json={"stream_id": stream_id, "scopes": scopes, **extra},
                              headers={"Authorization": f"Bearer {token or self.token()}"})
        response.raise_for_status()
        return str(response.json()["ticket"])


@contextmanager
def running_server(data_dir: Path, **kwargs: Any) -> Iterator[AtomsServer]:
    server = AtomsServer(data_dir, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def serving_in_process(data_dir: Path) -> AsyncIterator[tuple[str, Context]]:
    """The app ``atoms serve`` builds (its context, routes, lifespan and uvicorn), served on a loopback
    port from this process's event loop: its base URL and its ``Context``, whose parts (the store) a test
    can then spy on. For what a subprocess cannot show; every other test uses ``running_server``."""
    import uvicorn

    from atoms_core.app.main import build_context, create_app
    from atoms_core.config.settings import load_settings

    settings = load_settings(cli={"data_dir": data_dir}, environ={})
    ctx = build_context(settings)
    config = uvicorn.Config(create_app(settings, ctx), log_config=None, interface="asgi3", lifespan="on",
                            access_log=False)
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # its startup error, if it raised one
            raise RuntimeError("the in-process server exited at startup")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", ctx
    finally:
        ctx.hub.close_all()  # as ``atoms serve`` does at shutdown: open streams end first
        server.should_exit = True
        await task
        sock.close()
        gc.unfreeze()  # the lifespan froze what startup built: here that is the test process's objects
