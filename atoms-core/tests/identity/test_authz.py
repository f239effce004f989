"""The authorization callback against a real app backend on loopback (``http.server`` in a thread): asked
before a ticket is issued or a bearer acts on a stream, its answers cached, and failing closed (503)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from servers import AtomsServer, free_port, running_server
from streams_api import problem as _problem

CACHE_S = 1.5
TIMEOUT_S = 0.5


@dataclass
class Backend:
    """The app's backend: allows what ``allowed`` lists (principal, stream, scope); ``mode`` breaks it."""

    allowed: set[tuple[str, str, str]] = field(default_factory=set)
    mode: str = "ok"  # ok | error | slow | garbage | huge
    asked: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def asks(self, principal: str) -> list[tuple[str, str]]:
        return [(a["stream_id"], a["scope"]) for a in self.asked if a["principal_id"] == principal]


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    state = Backend()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.asked.append(body)
            if state.mode == "slow":
                time.sleep(TIMEOUT_S * 3)
            status, answer = 200, b""
            if state.mode == "error":
                status = 500
            elif state.mode == "garbage":
                answer = b"<html>yes</html>"
            elif state.mode == "huge":  # a yes, padded past MAX_ANSWER_BYTES (4096)
                answer = json.dumps({"allow": True, "pad": "x" * 8192}).encode()
            else:
                key = (body["principal_id"], body["stream_id"], body["scope"])
                answer = json.dumps({"allow": key in state.allowed}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except BrokenPipeError:
                pass  # the slow answer came after Atoms gave up, as it should

        def log_message(self, *args: Any) -> None:
            return None

    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{port}/authz"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def guarded(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    env = {"ATOMS_AUTHZ_URL": backend.url, "ATOMS_AUTHZ_CACHE_S": str(CACHE_S),
           "ATOMS_AUTHZ_TIMEOUT_S": str(TIMEOUT_S)}
    with running_server(tmp_path_factory.mktemp("authz") / "data", env=env) as srv:
        yield srv


@pytest.fixture(autouse=True)
def healthy(backend: Backend) -> None:
    backend.mode = "ok"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _principal() -> str:
    return "p-" + uuid.uuid4().hex[:10]


def _patch(server: AtomsServer, stream: str, token: str) -> httpx.Response:
    envelope = {"command_id": uuid.uuid4().hex, "type": "state.patch", "stream_id": stream,
                "payload": {"ops": [{"op": "add", "path": "/n", "value": 1}]}}
    return httpx.post(f"{server.url}/v1/streams/{stream}/commands", json=envelope, headers=_auth(token))


def test_a_ticket_is_issued_only_for_scopes_the_app_allows(guarded: AtomsServer, backend: Backend) -> None:
    who = _principal()
    backend.allowed |= {(who, "canvas:a1", "read"), (who, "canvas:a1", "presence")}
    token = guarded.token(principal=who)
    ok = httpx.post(f"{guarded.url}/v1/tickets", json={"stream_id": "canvas:a1", "scopes": ["read", "presence"]},
                    headers=_auth(token))
    assert ok.status_code == 201
    assert sorted(backend.asks(who)) == [("canvas:a1", "presence"), ("canvas:a1", "read")]
    assert {a["tenant_id"] for a in backend.asked if a["principal_id"] == who} == {"acme"}
    # The ticket is used without asking again: the app said yes when it was issued.
    state = httpx.get(f"{guarded.url}/v1/streams/canvas:a1/state", params={"ticket": ok.json()["ticket"]})
    assert state.status_code == 200 and len(backend.asks(who)) == 2
    denied = httpx.post(f"{guarded.url}/v1/tickets", json={"stream_id": "canvas:a1", "scopes": ["read", "write"]},
                        headers=_auth(token))
    _problem(denied, 403, "authz_denied")
    # Our own checks come first: a scope outside the identity is refused without asking the app.
    before = len(backend.asked)
    limited = guarded.token(principal=who, grants={"canvas:a1": ["read"]})
    _problem(httpx.post(f"{guarded.url}/v1/tickets", json={"stream_id": "canvas:a1", "scopes": ["write"]},
                        headers=_auth(limited)), 403, "not_granted")
    assert len(backend.asked) == before


async def test_a_bearer_on_a_stream_route_is_asked_for_and_refused_everywhere(guarded: AtomsServer,
                                                                           backend: Backend) -> None:
    who = _principal()
    backend.allowed |= {(who, "canvas:b1", "read")}
    token = guarded.token(principal=who)
    url = guarded.url
    assert httpx.get(f"{url}/v1/streams/canvas:b1/state", headers=_auth(token)).status_code == 200
    _problem(_patch(guarded, "canvas:b1", token), 403, "authz_denied")
    seq = httpx.get(f"{url}/v1/streams/canvas:b1/state", headers=_auth(token)).json()["seq"]
    assert seq == 0  # the refused command changed nothing
    _problem(httpx.get(f"{url}/v1/streams/canvas:b2/history", headers=_auth(token)), 403, "authz_denied")
    async with (httpx.AsyncClient(base_url=url, headers=_auth(token), timeout=10) as client,
                client.stream("GET", "/v1/streams/canvas:b2/events") as response):
        assert response.status_code == 403
    with pytest.raises(InvalidStatus) as info:
        await connect(f"ws://127.0.0.1:{guarded.port}/v1/streams/canvas:b1/ws", additional_headers=_auth(token))
    assert info.value.response.status_code == 403
    assert json.loads(info.value.response.body)["code"] == "authz_denied"
    assert ("canvas:b1", "presence") in backend.asks(who)


def test_answers_are_cached_per_principal_stream_and_scope(guarded: AtomsServer, backend: Backend) -> None:
    who = _principal()
    backend.allowed |= {(who, "canvas:c1", "read")}
    token = guarded.token(principal=who)
    for _ in range(5):
        assert httpx.get(f"{guarded.url}/v1/streams/canvas:c1/state", headers=_auth(token)).status_code == 200
    assert backend.asks(who) == [("canvas:c1", "read")]
    backend.allowed.discard((who, "canvas:c1", "read"))  # the app revokes: seen once the answer expires
    assert httpx.get(f"{guarded.url}/v1/streams/canvas:c1/state", headers=_auth(token)).status_code == 200
    time.sleep(CACHE_S + 0.2)
    _problem(httpx.get(f"{guarded.url}/v1/streams/canvas:c1/state", headers=_auth(token)), 403, "authz_denied")
    assert backend.asks(who) == [("canvas:c1", "read")] * 2


@pytest.mark.parametrize("mode", ["error", "slow", "garbage"])
def test_a_backend_down_slow_or_confused_fails_closed(guarded: AtomsServer, backend: Backend, mode: str) -> None:
    who, stream = _principal(), f"canvas:d-{mode}"
    backend.allowed |= {(who, stream, "read"), (who, stream, "write")}
    backend.mode = mode
    token = guarded.token(principal=who)
    started = time.monotonic()
    response = _patch(guarded, stream, token)
    _problem(response, 503, "authz_unavailable")
    assert response.headers["retry-after"] == "1"
    assert time.monotonic() - started < TIMEOUT_S + 1.0  # the timeout bounds the wait
    _problem(httpx.post(f"{guarded.url}/v1/tickets", json={"stream_id": stream, "scopes": ["read"]},
                        headers=_auth(token)), 503, "authz_unavailable")
    backend.mode = "ok"  # failures are not cached: the next request asks again and passes
    assert _patch(guarded, stream, token).status_code == 202
    assert httpx.get(f"{guarded.url}/v1/streams/{stream}/state", headers=_auth(token)).json()["seq"] == 1


def test_a_backend_that_is_gone_fails_closed(tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {"ATOMS_AUTHZ_URL": f"http://127.0.0.1:{free_port()}/authz"}  # nothing listens there
    with running_server(tmp_path_factory.mktemp("gone") / "data", env=env) as server:
        response = httpx.get(f"{server.url}/v1/streams/canvas:e1/state", headers=_auth(server.token()))
        _problem(response, 503, "authz_unavailable")
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # the service itself stays up


def test_an_oversized_answer_fails_closed_even_when_it_says_allow(guarded: AtomsServer, backend: Backend) -> None:
    who, stream = _principal(), "canvas:huge"
    backend.allowed |= {(who, stream, "read"), (who, stream, "write")}
    backend.mode = "huge"
    token = guarded.token(principal=who)
    _problem(_patch(guarded, stream, token), 503, "authz_unavailable")
    _problem(httpx.post(f"{guarded.url}/v1/tickets", json={"stream_id": stream, "scopes": ["read"]},
                        headers=_auth(token)), 503, "authz_unavailable")
    backend.mode = "ok"  # the refusal was not cached and the refused patch changed nothing
    assert httpx.get(f"{guarded.url}/v1/streams/{stream}/state", headers=_auth(token)).json()["seq"] == 0
