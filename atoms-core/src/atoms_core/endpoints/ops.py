"""Liveness, readiness (the store answers and writes, the audit log writes, the fan-out link is up, not
draining) and Prometheus metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from atoms_core.endpoints.context import Context


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    checks = {"store": await ctx.store.ping(), "audit": ctx.audit.healthy, "fanout": ctx.partitions.live,
              "accepting": not ctx.hub.closing}
    ok = all(checks.values())
    return JSONResponse({"status": "ready" if ok else "unavailable", "engine": ctx.settings.engine, "checks": checks},
                        status_code=200 if ok else 503)


async def metrics(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4")
