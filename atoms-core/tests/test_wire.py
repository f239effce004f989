"""The protocol's messages and codes as exported (docs/schemas, which atoms-ui generates from) and as
sent by a real server: every SSE message reads back as its model, every code is in the exported table."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from atoms_core.app.schemas import render
from atoms_core.protocol.codes import CLOSE_RULES, RESYNC_MEANINGS, CloseCode, ResyncReason, reconnects_after
from atoms_core.protocol.wire import EventEnvelope, Hello, Resync, StateSnapshot
from servers import AtomsServer
from sse_reader import collect
from streams_api import StreamClient, patch

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def exported(name: str) -> dict[str, Any]:
    text = (SCHEMAS / f"{name}.json").read_text()
    assert text == render()[f"{name}.json"], f"docs/schemas/{name}.json is stale: run make schemas"
    return dict(json.loads(text))


def test_every_close_code_is_exported_with_its_rule() -> None:
    schema = exported("CloseCode")
    assert set(CLOSE_RULES) == set(CloseCode), "every close code has a rule"
    assert schema["enum"] == sorted(int(code) for code in CloseCode)
    assert {name: (row["code"], row["reconnect"]) for name, row in schema["x-close"].items()} == {
        code.name: (int(code), rule.reconnect) for code, rule in CLOSE_RULES.items()}
    fatal = {row["code"] for row in schema["x-close"].values() if not row["reconnect"]}
    assert fatal == {1008, 1009, 4003}, "policy, frame-too-big and a revoked token end a client; the rest reconnect"


def test_unknown_or_missing_close_codes_reconnect() -> None:
    assert reconnects_after(None) and reconnects_after(4999) and reconnects_after(1005)
    assert not reconnects_after(1008) and not reconnects_after(CloseCode.TOO_BIG)


def test_every_resync_reason_is_exported_and_is_what_resync_carries() -> None:
    schema = exported("ResyncReason")
    assert set(RESYNC_MEANINGS) == set(ResyncReason)
    assert schema["enum"] == list(ResyncReason) and set(schema["x-meaning"]) == set(ResyncReason)
    resync = exported("Resync")
    assert resync["$defs"]["ResyncReason"]["enum"] == [str(reason) for reason in ResyncReason]


def test_every_sse_message_model_is_exported() -> None:
    for model in (EventEnvelope, Hello, StateSnapshot, Resync):
        assert exported(model.__name__)["title"] == model.__name__


def exactly(model: type[BaseModel], data: str) -> BaseModel:
    """``data`` read as ``model``, with no field more or less than the model lists."""
    fields = list(json.loads(data))
    assert fields == list(model.model_fields), (model.__name__, fields)
    return model.model_validate_json(data)


async def test_a_real_stream_sends_exactly_the_exported_messages(shared_server: AtomsServer) -> None:
    stream = f"canvas:{uuid.uuid4().hex[:12]}"
    api = StreamClient(shared_server.url, shared_server.token(), stream)
    assert api.post(patch(stream, "/title", "hi")).status_code == 202
    async with httpx.AsyncClient(headers=api.headers) as http:
        fresh = await collect(http, api.events_url, lambda got: len(got) == 2)
        ahead = await collect(http, api.events_url, lambda got: len(got) == 3, headers={"Last-Event-ID": "99"})
        replay = await collect(http, api.events_url, lambda got: len(got) == 2, headers={"Last-Event-ID": "0"})
    assert [f.event for f in fresh] == ["hello", "state_snapshot"]
    assert exactly(Hello, fresh[0].data) == Hello(stream_id=stream, head_seq=1, version=1)
    snapshot = exactly(StateSnapshot, fresh[1].data)
    assert snapshot == StateSnapshot(stream_id=stream, seq=1, version=1, state={"title": "hi"})
    assert [f.event for f in ahead] == ["hello", "resync", "state_snapshot"]
    resync = exactly(Resync, ahead[1].data)
    assert resync == Resync(stream_id=stream, reason=ResyncReason.AHEAD_OF_HEAD, head_seq=1)
    event = exactly(EventEnvelope, replay[1].data)
    assert isinstance(event, EventEnvelope)
    assert (replay[1].event, replay[1].id, event.id, event.seq, event.type) == ("state_patch", "1", "1", 1,
                                                                                "state_patch")
