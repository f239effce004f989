"""Commands upstream: ``POST /v1/streams/{stream_id}/commands`` with idempotent retries.

Network failures and 5xx are retried (full-jitter backoff, ``Retry-After`` honoured) with the
*same* body, so the same ``command_id``\\ s: the server answers a repeat with the first result
and appends nothing. A 4xx is never retried; it raises ``CommandError`` carrying the problem.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from atoms_core.client.backoff import Backoff
from atoms_core.client.errors import CommandError, ProblemError
from atoms_core.client.session import Session
from atoms_core.protocol.contracts import BatchResult, CommandResult

DEFAULT_RETRIES = 4
JSON_CONTENT = {"Content-Type": "application/json"}


def envelope(stream_id: str, type: str, payload: dict[str, Any], command_id: str | None = None,
             base_version: int | None = None, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """A CommandEnvelope as JSON; a fresh ``command_id`` unless one is given."""
    env: dict[str, Any] = {"command_id": command_id or uuid.uuid4().hex, "type": type,
                           "stream_id": stream_id, "payload": payload}
    if base_version is not None:
        env["base_version"] = base_version
    if meta is not None:
        env["meta"] = meta
    return env


async def post(session: Session, stream_id: str, body: dict[str, Any] | list[dict[str, Any]],
               retries: int = DEFAULT_RETRIES, backoff: Backoff | None = None) -> Any:
    """Send one envelope or a batch; return the 202 JSON or raise ``CommandError``."""
    content = json.dumps(body, separators=(",", ":")).encode()
    ids = [e["command_id"] for e in body] if isinstance(body, list) else [body["command_id"]]
    url = session.stream_url(stream_id, "commands")
    backoff = backoff or Backoff()
    attempt = 0
    while True:
        attempt += 1
        try:
            response = await session.request("POST", url, content=content, headers=JSON_CONTENT)
        except ProblemError as no_answer:  # network_error
            error = no_answer
        else:
            if response.status_code in (200, 202):
                return response.json()
            error = ProblemError.from_response(response)
        if not error.retryable or attempt > retries:
            raise CommandError(error, ids, attempt)
        await asyncio.sleep(max(backoff.next(), error.retry_after or 0.0))


async def command(session: Session, stream_id: str, type: str, payload: dict[str, Any], *,
                  command_id: str | None = None, base_version: int | None = None,
                  meta: dict[str, Any] | None = None, retries: int = DEFAULT_RETRIES) -> CommandResult:
    body = envelope(stream_id, type, payload, command_id, base_version, meta)
    return CommandResult.model_validate(await post(session, stream_id, body, retries))


async def command_batch(session: Session, stream_id: str, envelopes: list[dict[str, Any]],
                        retries: int = DEFAULT_RETRIES) -> BatchResult:
    """Several envelopes in one request, committed all or nothing."""
    return BatchResult.model_validate(await post(session, stream_id, envelopes, retries))
