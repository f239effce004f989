"""The README's tour and Python snippet, run as written against a real ``atoms serve --demo`` laid out
like ``make run`` (``./atoms-data`` beside ``.venv``); only the port 8000 is swapped for a free one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from atoms_core.client.agent import reply_text
from servers import AtomsServer, running_server

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DEMO_DIST = ROOT / "atoms-app" / "dist"


def block(heading: str, lang: str) -> str:
    """The first ``lang`` code block after the heading."""
    section = README[README.index(heading):]
    match = re.search(rf"```{lang}\n(.*?)```", section, re.S)
    assert match, f"no {lang} block under {heading}"
    return match.group(1)


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[AtomsServer, Path]]:
    """A checkout's layout: ``.venv`` (this venv) and the server's data dir ``./atoms-data``."""
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    env = {} if (DEMO_DIST / "index.html").is_file() else {"ATOMS_DEMO_DIST": str(_stand_in(tmp_path))}
    with running_server(tmp_path / "atoms-data", env=env, args=["--demo"]) as server:
        yield server, tmp_path


def _stand_in(root: Path) -> Path:
    dist = root / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>canvas</title>")
    return dist


def on_port(text: str, port: int) -> str:
    return text.replace("localhost:8000", f"localhost:{port}").replace("127.0.0.1:8000", f"127.0.0.1:{port}")


def chat(server: AtomsServer) -> list[dict[str, str]]:
    token = server.token("demo", "reader")
    response = httpx.get(f"{server.url}/v1/streams/canvas:demo/state", headers={"Authorization": f"Bearer {token}"})
    messages: list[dict[str, str]] = response.json()["state"].get("chat", [])
    return messages


def open_the_canvas_page(server: AtomsServer) -> None:
    """What the tour's first step, the page at ``/?canvas=demo``, does on the server: it asks for its guest
    token (atoms-app's session.ts), which starts the demo agent there; returns once the agent follows."""
    assert httpx.get(f"{server.url}/demo/token", params={"name": "Ada", "canvas": "demo"}).json()["agent"] is True
    deadline = time.monotonic() + 15
    while "following canvas:demo" not in server.log_path.read_text():
        assert time.monotonic() < deadline, "the demo agent never started"
        time.sleep(0.05)


def chat_when(server: AtomsServer, done: Callable[[list[dict[str, str]]], bool],
              timeout: float = 15.0) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while not done(messages := chat(server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return messages


def test_tour_runs_as_written_and_shows_on_the_demo_canvas(make_run: tuple[AtomsServer, Path]) -> None:
    server, cwd = make_run
    open_the_canvas_page(server)
    script = on_port(block("## One-minute tour", "sh"), server.port)
    result = subprocess.run(["bash", "-c", script + "\nsleep 0.5\n"], cwd=cwd, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "ATOMS_PORT": str(server.port)})
    assert "Traceback" not in result.stderr, result.stderr
    assert '"seq":1' in result.stdout.replace(" ", "")  # the command's 202
    assert "event: hello" in result.stdout and "event: state_snapshot" in result.stdout
    # atoms tail: connected, then the chat line (or, on a slow machine, the message within its first snapshot)
    assert "· connected: head seq" in result.stdout
    assert 'user: "hello from curl"' in result.stdout or "· snapshot at seq 1" in result.stdout
    # "hello from curl" appears in the canvas's chat panel (and the demo agent answers)
    answer = reply_text("hello from curl")
    messages = chat_when(server, lambda chat: len(chat) > 1 and chat[1]["text"] == answer)
    assert [(m["role"], m["author"], m["text"]) for m in messages] == [("user", "alice", "hello from curl"),
                                                                     ("assistant", "agent", answer)]


def test_python_snippet_runs_as_written(make_run: tuple[AtomsServer, Path]) -> None:
    server, cwd = make_run
    (cwd / "tour.py").write_text(on_port(block("## Python client and CLI", "python"), server.port))
    result = subprocess.run([str(cwd / ".venv" / "bin" / "python"), "tour.py"], cwd=cwd, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["hello", "state_snapshot", "chat so far: 0 messages"]
    assert lines[3:] == ["1 state_patch guest:py", "last message: hello from Python"]
    # (its guest token also started the demo agent on canvas:demo, which may answer after it)
    assert [m["text"] for m in chat(server) if m["role"] == "user"] == ["hello from Python"]
