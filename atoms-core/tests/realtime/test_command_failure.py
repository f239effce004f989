"""A bug inside command handling (there is no way to cause one over HTTP, so it is injected in process):
the client gets a 500 problem (not a retryable 503: retrying will not help), the metric counts it as
``failed``, nothing is committed, and the partition keeps working."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from atoms_core.app.main import build_context
from atoms_core.config.settings import load_settings
from atoms_core.endpoints.commands import CommandEndpoint
from atoms_core.endpoints.identity_middleware import IDENTITY_KEY
from atoms_core.protocol.principal import Identity
from atoms_core.protocol.timeline import Partition
from streams_api import patch


async def test_an_internal_error_is_a_500_problem_counted_as_failed(tmp_path: Path) -> None:
    ctx = build_context(load_settings(cli={"data_dir": str(tmp_path)}, environ={}))
    await ctx.store.open()
    try:
        def decide_with_a_bug(*args: Any) -> Any:
            raise RuntimeError("a bug")

        ctx.partitions.commits.decider.decide_group = decide_with_a_bug  # type: ignore[method-assign]
        stream = "canvas:bug"
        body = json.dumps(patch(stream, "/a", 1)).encode()
        scope = {"type": "http", "method": "POST", "path": f"/v1/streams/{stream}/commands",
                 "path_params": {"stream_id": stream}, "headers": [], "query_string": b"",
                 IDENTITY_KEY: Identity("acme", "alice", (), time.time() + 60)}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await CommandEndpoint(ctx)(scope, receive, send)
        assert sent[0]["status"] == 500
        assert dict(sent[0]["headers"])[b"content-type"].startswith(b"application/problem+json")
        assert json.loads(sent[1]["body"])["code"] == "internal_error"
        metrics = ctx.metrics.render().decode()
        assert 'atoms_commands_total{outcome="failed"} 1.0' in metrics
        assert 'atoms_commands_total{outcome="accepted"} 0.0' in metrics
        assert await ctx.store.read(Partition("acme", stream), 0, 10) == []
        del ctx.partitions.commits.decider.decide_group  # the bug is fixed: the same command now commits
        sent.clear()
        await CommandEndpoint(ctx)(scope, receive, send)
        assert sent[0]["status"] == 202 and json.loads(sent[1]["body"])["seq"] == 1
    finally:
        await ctx.store.close()
