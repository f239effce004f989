"""``create_app(settings)``: the one composition root — the whole, fixed route table lives here."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from atoms_core.app.extras import check_extras
from atoms_core.config.settings import Settings
from atoms_core.config.vault import loader_for
from atoms_core.endpoints import artifacts as artifact_routes
from atoms_core.endpoints import ops
from atoms_core.endpoints import reads as http
from atoms_core.endpoints.asgi import AtomsApp
from atoms_core.endpoints.commands import CommandEndpoint
from atoms_core.endpoints.context import Context, Lifecycle
from atoms_core.endpoints.identity_middleware import IdentityMiddleware
from atoms_core.endpoints.logs import RequestIdMiddleware
from atoms_core.endpoints.problems import problem_response, refuse
from atoms_core.endpoints.revocations import post_revocation
from atoms_core.endpoints.sse import SseEndpoint
from atoms_core.endpoints.tickets import post_ticket
from atoms_core.endpoints.ws import WsEndpoint
from atoms_core.engine.connection_caps import ConnectionCaps
from atoms_core.engine.hub import Hub
from atoms_core.engine.lifetimes import REVOKED, Lifetimes
from atoms_core.engine.metrics import Metrics
from atoms_core.engine.openings import Openings
from atoms_core.engine.partitions import Partitions, Watcher
from atoms_core.engine.presence import Deliver, LocalBus, Presence, PresenceBus
from atoms_core.identity.jwt_verify import Verifier
from atoms_core.identity.keys import load_keyring
from atoms_core.identity.revocations import Revocation, Revocations
from atoms_core.protocol.errors import AtomsError, NotFound
from atoms_core.protocol.patch import Limits
from atoms_core.protocol.sidecars import SidecarGuard
from atoms_core.protocol.wire import PING_FRAME
from atoms_core.stores import create_store
from atoms_core.stores.artifacts import create_artifact_store
from atoms_core.stores.audit import AuditLog
from atoms_core.stores.revocations import FileRevocations

STATUS_CODES = {404: "not_found", 405: "method_not_allowed"}


def build_context(settings: Settings) -> Context:
    check_extras(settings)  # a configured feature without its pip extra: one line naming it, not an ImportError
    loader = loader_for(settings)
    keys = load_keyring(settings, loader)
    redis_url = loader.resolve(settings.redis_url).reveal() if settings.engine == "redis" else None
    store = create_store(settings, redis_url)
    # On the redis engine the node gives it the Redis store (and the other nodes' revocations).
    revocations = Revocations(None if settings.engine == "redis" else FileRevocations(settings.data_dir),
                              settings.revocations_per_tenant)
    lifecycles: list[Lifecycle] = []
    watcher: Callable[[Partitions], Watcher] | None = None
    presence_bus: Callable[[Deliver], PresenceBus] = LocalBus
    if settings.engine == "redis":  # cross-node fan-out, presence and revocations over one pub/sub link
        from atoms_core.app.redis_node import redis_node

        node = redis_node(settings, store, revocations)
        watcher, presence_bus = node.watcher, node.presence.bus
        lifecycles.append(node)
    hub = Hub()
    artifacts = create_artifact_store(settings, loader, keys.ticket_key.reveal())
    audit = AuditLog(settings.data_dir / "audit", settings.audit_buffer_bytes)
    guard = SidecarGuard.from_settings(settings)
    limits = Limits(settings.state_max_depth, settings.state_max_bytes, settings.state_patch_max_ops, guard)
    partitions = Partitions(store, hub, artifacts, audit, settings.snapshot_every, settings.history_retention,
                            settings.state_cache_partitions, limits, settings.state_cache_bytes, watcher)
    presence = Presence(settings.ws_cursor_hz, settings.ws_idle_timeout_s, settings.ws_max_peers, presence_bus)
    metrics = Metrics()
    metrics.count_state_cache(lambda: partitions.cached_bytes)
    metrics.count_sse_frames(lambda: hub.inline_frames, lambda: hub.queued_frames)
    metrics.count_audit(lambda: audit.write_errors, lambda: audit.dropped)
    sse_caps = ConnectionCaps("sse", settings.sse_max_per_principal, settings.sse_max_per_tenant, metrics)
    ws_caps = ConnectionCaps("ws", settings.ws_max_per_principal, settings.ws_max_per_tenant, metrics)
    openings = Openings(settings.sse_opening_bytes, settings.sse_opening_tenant_bytes,
                        settings.sse_opening_principal_bytes, metrics)
    metrics.count_sse_openings(lambda: openings.held.total)
    demo_routes: tuple[BaseRoute, ...] = ()
    if settings.demo:  # atoms serve --demo: the canvas app, a demo identity and the demo agents
        from atoms_core.app.demo import build_demo

        demo = build_demo(settings, keys)
        demo_routes = demo.routes
        lifecycles.append(demo.agents)
    verifier = Verifier(settings, keys, revocations)
    if verifier.authz is not None:  # its HTTP client is closed at shutdown
        lifecycles.append(verifier.authz)
    lifetimes = Lifetimes(settings.jwt_leeway_s, revocations.is_revoked)
    _end_revoked(lifetimes, revocations)
    return Context(settings, keys, verifier, store, hub, partitions, artifacts, audit, metrics,
                   guard, sse_caps, ws_caps, presence, openings, tuple(lifecycles), demo_routes,
                   lifetimes)


def _end_revoked(lifetimes: Lifetimes, revocations: Revocations) -> None:
    """A revocation, this node's or another's, ends the open connections it covers."""
    def end(revocation: Revocation) -> None:
        lifetimes.end_where(revocation.tenant_id, revocation.principal_id,
                            lambda lease: revocation.covers(lease.issued_at, lease.jti), REVOKED)

    revocations.listeners.append(end)


async def _prefetch_jwks(ctx: Context) -> None:
    if ctx.verifier.jwks is not None:
        await ctx.verifier.jwks.refresh()


async def _heartbeat(ctx: Context) -> None:
    while True:
        await asyncio.sleep(ctx.settings.sse_heartbeat_s)
        ctx.hub.heartbeat(PING_FRAME)


def routes(ctx: Context) -> list[BaseRoute]:
    return [
        Route("/healthz", ops.healthz, methods=["GET"]),
        Route("/readyz", ops.readyz, methods=["GET"]),
        Route("/metrics", ops.metrics, methods=["GET"]),
        Route("/v1/tickets", post_ticket, methods=["POST"]),
        Route("/v1/revocations", post_revocation, methods=["POST"]),
        # Events and commands are served by AtomsApp's short path; listed so the table stays whole
        # (and HEAD/405 behave).
        Route("/v1/streams/{stream_id}/events", SseEndpoint(ctx), methods=["GET"]),
        WebSocketRoute("/v1/streams/{stream_id}/ws", WsEndpoint(ctx)),
        Route("/v1/streams/{stream_id}/commands", CommandEndpoint(ctx), methods=["POST"]),
        Route("/v1/streams/{stream_id}/state", http.get_state, methods=["GET"]),
        Route("/v1/streams/{stream_id}/history", http.get_history, methods=["GET"]),
        Route("/v1/artifacts", artifact_routes.post_artifact, methods=["POST"]),
        Route("/v1/artifacts/{artifact_id}", artifact_routes.get_artifact, methods=["GET"]),
        Route("/v1/artifacts/{artifact_id}/content", artifact_routes.get_content, methods=["GET"]),
        Route("/v1/artifacts/{artifact_id}/content", artifact_routes.put_content, methods=["PUT"]),
        *ctx.demo_routes,  # atoms serve --demo: the canvas app at / (catch-all, last)
    ]


async def _atoms_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AtomsError)
    return problem_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = STATUS_CODES.get(exc.status_code, "bad_request")
    return problem_response(AtomsError(code, str(exc.detail)))


async def _no_route(scope: Scope, receive: Receive, send: Send) -> None:
    """A path outside the table is a problem+json 404, a WebSocket handshake's too (Starlette closes it bare)."""
    await refuse(NotFound("not_found", "no such route"), scope, receive, send)


def create_app(settings: Settings, context: Context | None = None) -> AtomsApp:
    ctx = context or build_context(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ctx.store.open()
        await ctx.verifier.revocations.open()
        await _prefetch_jwks(ctx)
        ctx.audit.start()
        heartbeat = asyncio.create_task(_heartbeat(ctx))
        for part in ctx.lifecycles:
            await part.start()
        # What startup built lives as long as the process: keep it out of every later collection.
        gc.freeze()
        try:
            yield
        finally:
            ctx.hub.close_all()
            heartbeat.cancel()
            for part in reversed(ctx.lifecycles):
                await part.stop()
            await ctx.partitions.drain()
            await ctx.audit.stop()
            await ctx.store.close()

    sse = SseEndpoint(ctx)
    handlers: dict[Any, Any] = {AtomsError: _atoms_error, HTTPException: _http_error}
    app = Starlette(
        routes=routes(ctx),
        middleware=[Middleware(RequestIdMiddleware), Middleware(IdentityMiddleware, verifier=ctx.verifier)],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.router.default = _no_route
    return AtomsApp(app, sse, CommandEndpoint(ctx), ctx.verifier, settings.cors_origins)
