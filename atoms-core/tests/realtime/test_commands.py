"""Commands over real HTTP: every type, batches all-or-nothing, conflicts, idempotency, refusals."""

from __future__ import annotations

import uuid

import httpx
import pytest

from servers import AtomsServer
from streams_api import StreamClient, command, patch
from streams_api import problem as _code


@pytest.fixture
def client(shared_server: AtomsServer) -> StreamClient:
    return StreamClient(shared_server.url, shared_server.token(), f"canvas:c{uuid.uuid4().hex[:12]}")


def test_every_command_type_appends_its_event(client: StreamClient) -> None:
    s = client.stream
    assert client.post(patch(s, "/title", "hello")).json()["seq"] == 1
    assert client.post(command(s, "chat.post", {"role": "user", "text": "hi"}, "m1")).status_code == 202
    token = client.post(command(s, "token.append", {"target": "/chat/0/text", "delta": "!", "index": 0}))
    assert token.json()["version"] == 2  # token patches do not bump the version
    assert client.post(command(s, "log.append", {"level": "info", "message": "ok"})).status_code == 202
    snap = client.post(command(s, "snapshot.create", {})).json()
    assert snap["seq"] == 5
    events = client.history()["events"]
    assert [e["type"] for e in events] == ["state_patch", "state_patch", "token_patch", "log", "snapshot_created"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5] and all(e["id"] == str(e["seq"]) for e in events)
    assert events[1]["data"]["ops"][-1]["value"]["author"] == "alice"
    assert events[4]["data"]["sha256"] and events[4]["data"]["ref"]["artifact_id"]
    state = client.state()
    assert state["state"]["title"] == "hello" and state["state"]["chat"][0]["text"] == "hi!"
    assert (state["seq"], state["version"]) == (5, 2)


def test_batch_is_all_or_nothing(client: StreamClient) -> None:
    s = client.stream
    bad = [patch(s, "/a", 1), patch(s, "/missing/deep", 2, op="replace")]
    _code(client.post(bad), 422, "patch_failed")
    assert client.state()["seq"] == 0 and client.history()["events"] == []
    good = client.post([patch(s, "/a", 1), patch(s, "/b", 2)])
    assert good.status_code == 202
    body = good.json()
    assert [r["seq"] for r in body["results"]] == [1, 2] and body["seq"] == 2 and body["version"] == 2


def test_base_version_conflict_reports_current(client: StreamClient) -> None:
    s = client.stream
    client.post(patch(s, "/a", 1))
    problem = _code(client.post(patch(s, "/a", 2, op="replace", base_version=0)), 409, "version_conflict")
    assert problem["current_version"] == 1
    assert client.post(patch(s, "/a", 2, op="replace", base_version=1)).status_code == 202
    assert client.state()["state"] == {"a": 2}


def test_repeated_command_id_returns_first_result(client: StreamClient) -> None:
    s = client.stream
    first = client.post(patch(s, "/a", 1, command_id="same")).json()
    again = client.post(patch(s, "/a", 999, command_id="same")).json()
    assert again["seq"] == first["seq"] and again["duplicate"] is True and first["duplicate"] is False
    assert client.state()["state"] == {"a": 1} and client.state()["seq"] == 1


def test_a_retry_with_a_now_stale_base_version_gets_the_first_result_not_409(client: StreamClient) -> None:
    """A client that lost the 202 retries the same command: it gets the first result back."""
    s = client.stream
    first = client.post(patch(s, "/a", 1, command_id="retried", base_version=0)).json()
    again = client.post(patch(s, "/a", 1, command_id="retried", base_version=0))
    assert again.status_code == 202
    assert again.json()["seq"] == first["seq"] and again.json()["duplicate"] is True
    assert client.state()["seq"] == 1


def test_token_index_duplicate_is_noop_and_gap_is_409(client: StreamClient) -> None:
    s = client.stream
    client.post(command(s, "chat.post", {"role": "assistant", "text": ""}))
    target = "/chat/0/text"
    first = client.post(command(s, "token.append", {"target": target, "delta": "a", "index": 0})).json()
    dup = client.post(command(s, "token.append", {"target": target, "delta": "a", "index": 0})).json()
    assert dup["duplicate"] is True and dup["seq"] == first["seq"]
    gap = _code(client.post(command(s, "token.append", {"target": target, "delta": "c", "index": 2})),
                409, "token_gap")
    assert gap["expected_index"] == 1
    assert client.state()["state"]["chat"][0]["text"] == "a" and client.state()["seq"] == 2


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"command_id": "x", "type": "nope", "stream_id": "S", "payload": {}}, 422, "validation_failed"),
        ({"type": "log.append", "stream_id": "S", "payload": {}}, 422, "validation_failed"),
        ({"command_id": "x", "type": "log.append", "stream_id": "canvas:other",
          "payload": {"level": "info", "message": "m"}}, 422, "stream_mismatch"),
        ({"command_id": "x", "type": "log.append", "stream_id": "S", "payload": {"level": "loud"}},
         422, "validation_failed"),
        ({"command_id": "x", "type": "token.append", "stream_id": "S",
          "payload": {"target": "/nope", "delta": "a", "index": 0}}, 422, "patch_failed"),
        ({"command_id": "x", "type": "state.patch", "stream_id": "S",
          "payload": {"ops": [{"op": "test", "path": "/a", "value": 1}]}}, 422, "patch_failed"),
        ({"command_id": "x", "type": "state.patch", "stream_id": "S",
          "payload": {"ops": [{"op": "remove", "path": ""}]}}, 422, "patch_failed"),
        ([], 400, "bad_request"),
    ],
)
def test_bad_commands_are_refused_and_change_nothing(client: StreamClient, body: object, status: int,
                                                     code: str) -> None:
    def fill(value: object) -> object:
        if isinstance(value, dict):
            return {k: client.stream if v == "S" else fill(v) for k, v in value.items()}
        return value

    _code(client.post(fill(body)), status, code)
    assert client.state()["seq"] == 0


def test_invalid_json_oversize_and_batch_limit(client: StreamClient, shared_server: AtomsServer) -> None:
    url = f"{client.base_url}/v1/streams/{client.stream}/commands"
    _code(httpx.post(url, content=b"{nope", headers=client.headers), 400, "invalid_json")
    not_json = [b'{"v": NaN}', b'{"v": "\\ud800"}', b"\xff"]  # NaN, a lone surrogate, not UTF-8
    for body in not_json:
        _code(httpx.post(url, content=body, headers=client.headers), 400, "invalid_json")
    _code(httpx.post(url, content=b" " * (1_048_576 + 1), headers=client.headers), 413, "body_too_large")
    _code(client.post([patch(client.stream, f"/k{i}", i) for i in range(101)]), 413, "batch_too_large")
    assert client.state()["seq"] == 0


def nested(depth: int) -> dict[str, object]:
    """``{"a": {"a": ...}}``: ``depth`` containers."""
    value: dict[str, object] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_a_state_too_deep_to_encode_is_refused_and_the_stream_stays_usable(client: StreamClient) -> None:
    """Each body is shallow, but patches at ever deeper paths could pile up a state no JSON encoder
    can write (snapshots, /state and new SSE connections would all break): the limit is 128."""
    s, path = client.stream, ""
    for _ in range(6):  # 6 x 20 = 120 containers deep
        assert client.post(patch(s, path + "/a", nested(20))).status_code == 202
        path += "/a" * 20
    before = client.state()
    refused = _code(client.post(patch(s, path + "/a", nested(20))), 422, "state_too_deep")
    assert refused["pointer"] == "/payload/ops/0" and "limit is 128" in str(refused["detail"])
    # A move that takes a deep value deeper is refused too; one that stays as deep is fine.
    deeper = {"ops": [{"op": "add", "path": "/x", "value": nested(12)},
                      {"op": "move", "from": "/a", "path": "/x" + "/a" * 9}]}  # 120 deep, 9 steps down
    _code(client.post(command(s, "state.patch", deeper)), 422, "state_too_deep")
    assert client.state() == before
    as_deep = {"ops": [{"op": "move", "from": "/a", "path": "/b"}]}
    assert client.post(command(s, "state.patch", as_deep)).status_code == 202
    assert client.post(command(s, "snapshot.create", {})).status_code == 202
    assert client.state()["state"]["b"] == before["state"]["a"]


def test_new_stream_has_empty_state_not_404(client: StreamClient) -> None:
    assert client.state() == {"stream_id": client.stream, "state": {}, "seq": 0, "version": 0}
    assert client.history()["events"] == []


def test_idempotency_survives_restart(server: AtomsServer) -> None:
    client = StreamClient(server.url, server.token(), "canvas:restart")
    first = client.post(patch(client.stream, "/a", 1, command_id="k1")).json()
    server.restart()
    again = client.post(patch(client.stream, "/a", 2, command_id="k1")).json()
    assert again["seq"] == first["seq"] and again["duplicate"] is True
    assert client.state()["state"] == {"a": 1}
