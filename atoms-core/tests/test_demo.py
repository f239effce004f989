"""``atoms serve --demo``: the canvas app at ``/``, the demo identity at ``/demo/token`` and the demo agent
answering in every canvas a page opens; none of it exists without ``--demo``."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atoms_core.client.agent import reply_text
from servers import ATOMS, AtomsServer, running_server

INDEX = "<!doctype html><title>canvas</title><div id=app></div>"
SCRIPT = "console.log('canvas');"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for atoms-app/dist, so these tests do not depend on the npm build."""
    root = tmp_path_factory.mktemp("dist")
    (root / "assets").mkdir()
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "app.js").write_text(SCRIPT)
    return root


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, dist: Path) -> Iterator[AtomsServer]:
    data = tmp_path_factory.mktemp("demo") / "data"
    with running_server(data, env={"ATOMS_DEMO_DIST": str(dist)}, args=["--demo"]) as srv:
        yield srv


def demo_token(server: AtomsServer, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/demo/token", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def chat_post(server: AtomsServer, token: str, stream: str, text: str) -> None:
    response = httpx.post(f"{server.url}/v1/streams/{stream}/commands", headers={"Authorization": f"Bearer {token}"},
                          json={"command_id": f"q-{time.monotonic_ns()}", "type": "chat.post", "stream_id": stream,
                                "payload": {"role": "user", "text": text}})
    assert response.status_code == 202, response.text


def chat_when_answered(server: AtomsServer, token: str, stream: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The stream's chat once every user message has a complete assistant reply after it."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{server.url}/v1/streams/{stream}/state", headers={"Authorization": f"Bearer {token}"})
        chat: list[dict[str, Any]] = response.json()["state"].get("chat", [])
        questions = [m for m in chat if m["role"] == "user"]
        replies = [m for m in chat if m["role"] == "assistant" and m["text"] == reply_text(questions[0]["text"])] \
            if questions else []
        if replies or time.monotonic() > deadline:
            return chat
        time.sleep(0.05)


def test_demo_serves_the_canvas_app_at_root_for_any_canvas(demo: AtomsServer) -> None:
    for path in ("/", "/?canvas=team-board", "/index.html"):
        response = httpx.get(demo.url + path)
        assert response.status_code == 200
        assert response.text == INDEX
        assert response.headers["content-type"].startswith("text/html")
    script = httpx.get(f"{demo.url}/assets/app.js")
    assert script.status_code == 200
    assert script.text == SCRIPT
    missing = httpx.get(f"{demo.url}/nope.js")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    # The API is untouched by the catch-all mount.
    assert httpx.get(f"{demo.url}/healthz").status_code == 200


def test_demo_token_is_a_guest_identity_of_the_demo_tenant(demo: AtomsServer) -> None:
    body = demo_token(demo, name="Ada Lovelace", canvas="identity")
    assert body["tenant_id"] == "demo"
    assert body["principal_id"] == "guest:Ada Lovelace"
    headers = {"Authorization": f"Bearer {body['token']}"}
    ticket = httpx.post(f"{demo.url}/v1/tickets", headers=headers,
                        json={"stream_id": "canvas:identity", "scopes": ["read", "write", "presence"]})
    assert ticket.status_code == 201
    chat_post(demo, body["token"], "canvas:identity", "hello")
    state = httpx.get(f"{demo.url}/v1/streams/canvas:identity/state", headers=headers).json()
    assert state["state"]["chat"][0]["author"] == "guest:Ada Lovelace"
    # Another tenant's identity does not see the demo tenant's canvas.
    other = httpx.get(f"{demo.url}/v1/streams/canvas:identity/state",
                      headers={"Authorization": f"Bearer {demo.token(tenant='acme')}"}).json()
    assert other["seq"] == 0


def test_a_demo_guest_is_granted_its_canvas_only_and_a_viewer_cannot_edit(demo: AtomsServer) -> None:
    def may(token: str, stream: str, scopes: list[str]) -> int:
        return httpx.post(f"{demo.url}/v1/tickets", headers={"Authorization": f"Bearer {token}"},
                          json={"stream_id": stream, "scopes": scopes}).status_code

    editor = demo_token(demo, name="Ada", canvas="granted")
    assert editor["role"] == "editor"
    assert may(editor["token"], "canvas:granted", ["read", "write", "presence"]) == 201
    assert may(editor["token"], "canvas:another", ["read"]) == 403
    viewer = demo_token(demo, name="Vera", canvas="granted", role="viewer")
    assert viewer["role"] == "viewer"
    assert may(viewer["token"], "canvas:granted", ["read", "presence"]) == 201
    assert may(viewer["token"], "canvas:granted", ["write"]) == 403
    assert may(viewer["token"], "canvas:another", ["read"]) == 403


def test_a_demo_token_without_a_canvas_is_granted_the_demo_canvas_only(demo: AtomsServer) -> None:
    body = demo_token(demo, name="Eve")
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert httpx.post(f"{demo.url}/v1/tickets", headers=headers,
                      json={"stream_id": "canvas:demo", "scopes": ["read", "write", "presence"]}).status_code == 201
    # Anyone may ask for a guest token: it must not read or write the tenant's other canvases.
    for response in (
        httpx.get(f"{demo.url}/v1/streams/canvas:other/state", headers=headers),
        httpx.get(f"{demo.url}/v1/streams/canvas:other/history", headers=headers),
        httpx.post(f"{demo.url}/v1/tickets", headers=headers, json={"stream_id": "canvas:other", "scopes": ["read"]}),
        httpx.post(f"{demo.url}/v1/streams/canvas:other/commands", headers=headers,
                   json={"command_id": "eve-1", "type": "log.append", "stream_id": "canvas:other",
                         "payload": {"level": "info", "message": "hi"}}),
    ):
        assert response.status_code == 403, (response.request.url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{demo.url}/v1/streams/canvas:other/state",
                     headers={"Authorization": f"Bearer {demo.token(tenant='demo')}"}).json()["seq"] == 0


@pytest.mark.parametrize(("params", "code"), [
    ({}, "bad_request"),
    ({"name": ""}, "bad_request"),
    ({"name": "<script>"}, "bad_request"),
    ({"name": "x" * 41}, "bad_request"),
    ({"name": "Ada", "canvas": "../etc"}, "invalid_stream_id"),
    ({"name": "Ada", "canvas": ""}, "invalid_stream_id"),
    ({"name": "Ada", "canvas": "x", "role": "admin"}, "bad_request"),
])
def test_demo_token_refuses_bad_names_and_canvas_ids(demo: AtomsServer, params: dict[str, str], code: str) -> None:
    response = httpx.get(f"{demo.url}/demo/token", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_demo_agent_answers_in_each_canvas_a_page_opens_and_only_there(demo: AtomsServer) -> None:
    questions = {"canvas:room-a": "What goes in the corner?", "canvas:room-b": "Which colour for the frame?"}
    tokens = {}
    for stream in questions:
        body = demo_token(demo, name="Grace", canvas=stream.removeprefix("canvas:"))
        assert body["agent"] is True
        tokens[stream] = body["token"]
    assert demo_token(demo, name="Ada", canvas="room-a")["agent"] is True  # already running: not a second one
    time.sleep(0.3)  # the agents' subscriptions open (a real page takes longer before anyone types)
    for stream, question in questions.items():
        chat_post(demo, tokens[stream], stream, question)
    for stream, question in questions.items():
        chat = chat_when_answered(demo, tokens[stream], stream)
        assert [(m["role"], m["author"], m["text"]) for m in chat] == [
            ("user", "guest:Grace", question),
            ("assistant", "agent", reply_text(question)),
        ]


def test_demo_agents_are_capped_by_demo_max_agents(tmp_path: Path, dist: Path) -> None:
    env = {"ATOMS_DEMO_DIST": str(dist), "ATOMS_DEMO_MAX_AGENTS": "1"}
    with running_server(tmp_path / "data", env=env, args=["--demo"]) as server:
        assert demo_token(server, name="Ada", canvas="first")["agent"] is True
        refused = demo_token(server, name="Ada", canvas="second")
        assert refused["agent"] is False
        assert refused["token"]  # the page still works, only without the agent
        assert demo_token(server, name="Ada", canvas="first")["agent"] is True


def test_demo_agents_stop_with_the_server(tmp_path: Path, dist: Path) -> None:
    server = AtomsServer(tmp_path / "data", env={"ATOMS_DEMO_DIST": str(dist)}, args=["--demo"]).start()
    try:
        demo_token(server, name="Ada", canvas="bye")
        deadline = time.monotonic() + 10
        while "following canvas:bye" not in server.log_path.read_text():  # the agent runs: now stop under it
            assert time.monotonic() < deadline, "the demo agent never started"
            time.sleep(0.05)
        started = time.monotonic()
        server.stop(timeout=10)  # SIGTERM; the test fails if it had to be killed after 10 s
        assert time.monotonic() - started < 5
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log
    assert "was destroyed but it is pending" not in log


def test_without_demo_there_is_no_app_and_no_token_route(server: AtomsServer) -> None:
    for path in ("/demo/token?name=Ada&canvas=x", "/"):
        response = httpx.get(server.url + path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_demo_without_a_built_app_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run([ATOMS, "serve", "--demo", "--port", "0", "--data-dir", str(tmp_path / "d")],
                            env={"ATOMS_DEMO_DIST": str(empty), "PATH": "/usr/bin:/bin"}, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2
    assert f"no built canvas app at {empty}" in result.stderr
    assert "make install" in result.stderr and "wheel" in result.stderr
