"""Artifact routes: register (``POST /v1/artifacts``), resolve a ref to a signed URL
(``GET /v1/artifacts/{artifact_id}``) and, for the embedded store, upload and download the bytes
(``PUT``/``GET /v1/artifacts/{artifact_id}/content``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from atoms_core.endpoints.context import Context
from atoms_core.endpoints.http_body import read_json
from atoms_core.identity.authorize import authorize, tenant_of
from atoms_core.protocol.artifacts import ArtifactRecord, ArtifactSpec, check_artifact_id, mismatch
from atoms_core.protocol.errors import AtomsError, NotFound, PayloadTooLarge, Unavailable
from atoms_core.protocol.principal import Grant
from atoms_core.protocol.validation import bounded_int, validated
from atoms_core.stores.artifacts.local import LocalArtifactStore

MAX_SPEC_BYTES = 4096
#: Uploaded bytes are served as inert data: no sniffing, no script, no same-origin powers.
CONTENT_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}

T = TypeVar("T")


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


@contextmanager
def _store_faults(ctx: Context) -> Iterator[None]:
    """A full disk or an unreachable bucket is a retryable 503, like the timeline store, not a 500."""
    try:
        yield
    except ctx.artifacts.faults as exc:
        raise Unavailable("store_unavailable", "the artifact store cannot serve this now; retry") from exc


async def _io(ctx: Context, call: Callable[..., T], *args: Any) -> T:
    """A blocking store call in a worker thread, its faults answered 503."""
    with _store_faults(ctx):
        return await run_in_threadpool(call, *args)


async def _record(ctx: Context, tenant: str, artifact_id: str) -> ArtifactRecord:
    record = await _io(ctx, ctx.artifacts.lookup, tenant, artifact_id)
    if record is None:
        raise NotFound("not_found", f"no artifact {artifact_id!r} in your tenant")
    return record


async def _allowed(request: Request, ctx: Context, artifact_id: str, needed: str) -> tuple[Grant, ArtifactRecord]:
    """An artifact follows its stream: the caller needs ``needed`` on the stream it was registered for."""
    record = await _record(ctx, tenant_of(request.scope, ctx.verifier), artifact_id)
    return await authorize(request.scope, ctx.verifier, record.stream_id, needed), record


async def post_artifact(request: Request) -> Response:
    ctx = _ctx(request)
    tenant_of(request.scope, ctx.verifier)  # 401 before the body is read
    body = await read_json(request.scope, request.receive, MAX_SPEC_BYTES)
    spec = validated(ArtifactSpec, body)
    grant = await authorize(request.scope, ctx.verifier, spec.stream_id, "write")
    if spec.stream_id is None and grant.stream_id is not None:
        spec = spec.model_copy(update={"stream_id": grant.stream_id})  # a stream ticket implies its own
    if spec.size > ctx.settings.artifact_max_bytes:
        raise PayloadTooLarge("body_too_large", f"an artifact holds at most {ctx.settings.artifact_max_bytes} bytes")
    record = await _io(ctx, ctx.artifacts.register, grant.tenant_id, spec)
    upload = None
    if record.status == "pending":
        target = await _io(ctx, ctx.artifacts.upload_target, grant.tenant_id, record, str(request.base_url))
        upload = target.upload_json()
    ctx.audit.record(grant.tenant_id, "artifact.registered", record.stream_id, grant.principal_id,
                     reason=record.artifact_id, payload=spec.model_dump())
    return JSONResponse({**record.public(), "upload": upload}, status_code=201)


async def get_artifact(request: Request) -> Response:
    ctx = _ctx(request)
    grant, record = await _allowed(request, ctx, check_artifact_id(request.path_params["artifact_id"]), "read")
    url = None
    if record.status == "ready":
        url = await _io(ctx, ctx.artifacts.download_url, grant.tenant_id, record, str(request.base_url))
    return JSONResponse({**record.public(), "url": url.url if url else None,
                         "expires_at": url.expires_iso() if url else None})


def _local(ctx: Context) -> LocalArtifactStore:
    if not isinstance(ctx.artifacts, LocalArtifactStore):
        raise NotFound("not_found", "artifact bytes are served by the object store; use the URL from "
                                    "GET /v1/artifacts/{artifact_id}")
    return ctx.artifacts


async def _tenant(request: Request, ctx: Context, store: LocalArtifactStore, method: str,
                  artifact_id: str) -> tuple[str, str | None, ArtifactRecord]:
    """A signed URL token (no header needed) or a bearer identity; returns (tenant, principal, record)."""
    token = request.query_params.get("token")
    if token is not None:
        tenant = store.signer.verify(token, method, artifact_id)
        return tenant, None, await _record(ctx, tenant, artifact_id)
    grant, record = await _allowed(request, ctx, artifact_id, "write" if method == "PUT" else "read")
    return grant.tenant_id, grant.principal_id, record


async def _received(ctx: Context, store: LocalArtifactStore, tenant: str, record: ArtifactRecord,
                    request: Request) -> ArtifactRecord:
    declared = request.headers.get("content-length")
    if declared is not None and (size := bounded_int(declared, "Content-Length", 0, 2**63)) != record.size:
        raise mismatch(record, size, None)
    with _store_faults(ctx):
        return await store.receive(tenant, record, request.stream())


async def put_content(request: Request) -> Response:
    ctx = _ctx(request)
    store = _local(ctx)
    artifact_id = check_artifact_id(request.path_params["artifact_id"])
    tenant, principal, record = await _tenant(request, ctx, store, "PUT", artifact_id)
    try:
        ready = await _received(ctx, store, tenant, record, request)
    except AtomsError as err:
        ctx.audit.record(tenant, "artifact.refused", None, principal, reason=err.code)
        raise
    ctx.audit.record(tenant, "artifact.uploaded", None, principal, reason=artifact_id)
    return JSONResponse(ready.public())


async def get_content(request: Request) -> Response:
    ctx = _ctx(request)
    store = _local(ctx)
    artifact_id = check_artifact_id(request.path_params["artifact_id"])
    tenant, _, record = await _tenant(request, ctx, store, "GET", artifact_id)
    if record.status != "ready":
        raise NotFound("not_found", f"artifact {artifact_id!r} has no verified bytes yet")
    path = store.blob_path(tenant, record)
    stat = await _io(ctx, os.stat, path)  # gone from disk: a store fault, not FileResponse's 500
    headers = {**CONTENT_HEADERS, "Cache-Control": f"private, max-age={ctx.settings.artifact_url_ttl_s}"}
    return FileResponse(path, media_type=record.mime, headers=headers, stat_result=stat)
