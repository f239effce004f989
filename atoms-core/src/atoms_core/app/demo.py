"""``atoms serve --demo``: the canvas app at ``/`` (the wheel's ``demo_app``, else atoms-app/dist), a local
demo identity at ``GET /demo/token`` and the demo agent answering chat in every canvas a page opens."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from atoms_core.app.startup import DEMO_CANVAS
from atoms_core.client import AtomsClient
from atoms_core.client.agent import ChatAgent
from atoms_core.config.settings import ConfigError, Settings
from atoms_core.identity.keys import KeyRing
from atoms_core.identity.tickets import mint_identity_token
from atoms_core.protocol.errors import BadRequest
from atoms_core.protocol.streams import stream_key

DEMO_TENANT = "demo"
AGENT_PRINCIPAL = "agent"
GUEST_PREFIX = "guest:"
#: Identity tokens handed to pages live an hour; pages ask again for every ticket.
TOKEN_TTL_S = 3600
#: A person's display name, which becomes their principal ``guest:<name>``.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}")
#: ``?role=`` of ``/demo/token``: the roles and the scopes granted on the page's canvas.
ROLES: dict[str, tuple[list[str], list[str]]] = {
    "editor": ([], ["read", "write", "presence"]),
    "viewer": (["viewer"], ["read", "presence"]),
}
#: Seconds before a crashed agent is started again.
AGENT_RESTART_S = 1.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
#: The built canvas inside an installed wheel (``make dist`` copies atoms-app/dist here), then the monorepo's.
PACKAGED_DIST = Path(__file__).resolve().parents[1] / "demo_app"  # atoms_core/demo_app in the wheel
APP_DIST = Path(__file__).resolve().parents[4] / "atoms-app" / "dist"

log = logging.getLogger("atoms_core.app.demo")


def app_dist(settings: Settings) -> Path:
    """The built canvas app: ``demo_dist`` if set, else the packaged one, else ``atoms-app/dist``."""
    own = settings.demo_dist
    candidates = [Path(own).expanduser().resolve()] if own else [PACKAGED_DIST, APP_DIST]
    for dist in candidates:
        if (dist / "index.html").is_file():
            return dist
    raise ConfigError(f"demo: no built canvas app at {' or '.join(map(str, candidates))} "
                      "(in the monorepo run `make install`; or install the atoms-core wheel; or set ATOMS_DEMO_DIST)")


class DemoAgents:
    """One ``ChatAgent`` per canvas, started when a page first asks for a token there, talking to this
    server over loopback HTTP like any other client; all are cancelled on shutdown."""

    def __init__(self, settings: Settings, keys: KeyRing) -> None:
        self.settings = settings
        self.keys = keys
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def ensure(self, stream_id: str, base_url: str) -> bool:
        """Start the stream's agent unless it runs; False when ``demo_max_agents`` are busy elsewhere."""
        task = self.tasks.get(stream_id)
        if task is not None and not task.done():
            return True
        self.tasks = {s: t for s, t in self.tasks.items() if not t.done()}
        if len(self.tasks) >= self.settings.demo_max_agents:
            log.warning("demo agent not started on %s: %d agents already run", stream_id, len(self.tasks))
            return False
        # A fresh context: the agent outlives the request that started it (and its request id).
        self.tasks[stream_id] = asyncio.create_task(self._run(stream_id, base_url), name=f"demo agent {stream_id}",
                                                    context=contextvars.Context())
        return True

    def _token(self) -> str:
        return mint_identity_token(self.settings, self.keys, DEMO_TENANT, AGENT_PRINCIPAL, [], TOKEN_TTL_S)

    async def _run(self, stream_id: str, base_url: str) -> None:
        async with AtomsClient(base_url, self._token) as client:
            agent = ChatAgent(client, stream_id, log=lambda line: log.info("agent %s: %s", stream_id, line),
                              name=AGENT_PRINCIPAL)
            while True:
                try:
                    await agent.run()
                except Exception:
                    log.exception("demo agent on %s failed; restarting", stream_id)
                await asyncio.sleep(AGENT_RESTART_S)

    async def start(self) -> None:
        """Nothing to start: an agent starts with the first page that opens its canvas."""

    async def stop(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()


def loopback_url(request: Request) -> str:
    """This server as reached by the request (its own socket address), for the agent's client."""
    server = request.scope.get("server")
    if not server:
        return str(request.base_url).rstrip("/")
    host, port = server
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def token_route(settings: Settings, keys: KeyRing, agents: DemoAgents) -> Route:
    async def demo_token(request: Request) -> Response:
        """``GET /demo/token?name=Ada[&canvas=demo][&role=viewer]``: an identity JWT of ``guest:Ada`` in the
        demo tenant, granted one canvas only (``canvas``, default ``demo``; a viewer: read and presence),
        where the demo agent answers chat. Never a token for the whole tenant: anyone may ask for one."""
        name = request.query_params.get("name", "")
        if NAME.fullmatch(name) is None:
            raise BadRequest("bad_request", f"name must match {NAME.pattern}")
        role = request.query_params.get("role", "editor")
        if role not in ROLES:
            raise BadRequest("bad_request", f"role must be one of {', '.join(ROLES)}")
        roles, scopes = ROLES[role]
        stream_id = stream_key(canvas_id=request.query_params.get("canvas", DEMO_CANVAS))
        principal = GUEST_PREFIX + name
        token = mint_identity_token(settings, keys, DEMO_TENANT, principal, roles, TOKEN_TTL_S, {stream_id: scopes})
        agent = agents.ensure(stream_id, loopback_url(request))
        body = {"token": token, "tenant_id": DEMO_TENANT, "principal_id": principal, "expires_in": TOKEN_TTL_S,
                "agent": agent, "role": role}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return Route("/demo/token", demo_token, methods=["GET"])


@dataclass(frozen=True, slots=True)
class Demo:
    """What ``--demo`` adds, for ``build_context`` to assemble: routes appended after the fixed table
    (the catch-all ``/`` last) and the agents, stopped with the app."""

    routes: tuple[BaseRoute, ...]
    agents: DemoAgents


def build_demo(settings: Settings, keys: KeyRing) -> Demo:
    agents = DemoAgents(settings, keys)
    # The agents' own loopback requests would otherwise log one line each.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    routes = (token_route(settings, keys, agents),
              Mount("/", StaticFiles(directory=app_dist(settings), html=True), name="demo-app"))
    if settings.host not in LOOPBACK:
        log.warning("demo mode on %s: anyone who can reach it gets a demo identity", settings.host)
    return Demo(routes, agents)
