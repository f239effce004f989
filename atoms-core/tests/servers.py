"""Real servers for tests: ``atoms serve`` as a subprocess on a free loopback port, and helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

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


class AtomsServer:
    """One ``atoms serve`` process; restartable on the same data dir and port."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None,
                 port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AtomsServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [ATOMS, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir),
             *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env,
        )
        wait_port("127.0.0.1", self.port, proc=self.proc)
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
