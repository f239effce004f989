"""What ``atoms serve`` says before and when it starts: a busy port in one line, then one startup line."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Sequence

from atoms_core.config.settings import ConfigError, Settings

DEMO_CANVAS = "demo"


class PortBusy(ConfigError):
    """Something already listens on the configured host and port."""


class CannotListen(ConfigError):
    """The configured host does not resolve, or is no address of this machine."""


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def public_url(settings: Settings, port: int | None = None) -> str:
    """The address to open: the demo canvas with ``--demo``, else the API base."""
    base = f"http://{_url_host(settings.host)}:{port if port is not None else settings.port}"
    return f"{base}/?canvas={DEMO_CANVAS}" if settings.demo else base


def check_listen(host: str, port: int) -> None:
    """Fail early, in one line, when the host does not resolve or the port is taken (uvicorn would log
    a bare OSError and exit 3)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CannotListen(f"host {host!r} does not resolve ({exc.strerror}); give --host an address of this "
                           "machine, e.g. 127.0.0.1 or 0.0.0.0") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortBusy(f"port {port} on {host} is in use (another server?); stop it, "
                                   "or pick another with --port") from None
                where = host if port == 0 else f"{host} port {port}"
                raise CannotListen(f"cannot listen on {where}: {exc.strerror}; pick another --host or --port") \
                    from None


def bound_port(settings: Settings, servers: Sequence[asyncio.base_events.Server]) -> int:
    """The port actually listened on (``--port 0`` lets the OS pick it)."""
    port = settings.port
    for server in servers:
        for sock in server.sockets:
            port = int(sock.getsockname()[1])
    return port


def startup_line(settings: Settings, servers: Sequence[asyncio.base_events.Server]) -> str:
    """``atoms: serving <url> (engine sqlite, data dir /abs/path)`` with the port actually bound."""
    port = bound_port(settings, servers)
    where = f"data dir {settings.data_dir.resolve()}"
    return f"atoms: serving {public_url(settings, port)} (engine {settings.engine}, {where})"
