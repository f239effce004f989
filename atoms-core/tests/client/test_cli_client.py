"""``atoms tail`` in a real terminal and ``atoms post`` from a shell, against a real server."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import httpx
from terminal import Terminal

from atoms_core.protocol.wire import EventEnvelope
from servers import ATOMS, AtomsServer


def post(server: AtomsServer, token: str, stream: str, kind: str, payload: dict[str, object]) -> None:
    body = {"command_id": f"c{time.monotonic_ns()}", "type": kind, "stream_id": stream, "payload": payload}
    response = httpx.post(f"{server.url}/v1/streams/{stream}/commands", json=body,
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.text


def test_atoms_tail_shows_events_live_in_a_terminal_and_exits_cleanly_on_ctrl_c(
        shared_server: AtomsServer) -> None:
    stream, token = "canvas:tail", shared_server.token(principal="alice")
    terminal = Terminal([ATOMS, "tail", stream, "--url", shared_server.url, "--token", token], shared_server.env)
    try:
        terminal.wait_for("snapshot at seq 0")
        post(shared_server, token, stream, "chat.post", {"role": "user", "text": "hello from the test"})
        terminal.wait_for("hello from the test")
        post(shared_server, token, stream, "token.append", {"target": "/chat/0/text", "delta": "!", "index": 0})
        terminal.wait_for('/chat/0/text #0 += "!"')
        post(shared_server, token, stream, "log.append", {"level": "warning", "message": "disk is fine"})
        terminal.wait_for("[warning] disk is fine")
        code = terminal.ctrl_c()
    finally:
        terminal.kill()
    lines = [line for line in terminal.text.splitlines() if line.strip()[:1].isdigit()]
    assert [line.split()[:3] for line in lines] == [["1", "state_patch", "alice"], ["2", "token_patch", "alice"],
                                                    ["3", "log", "alice"]]
    assert code in (0, 130)
    assert "Traceback" not in terminal.text and "KeyboardInterrupt" not in terminal.text


def test_atoms_tail_json_prints_envelopes_and_atoms_post_reports_results_and_problems(
        shared_server: AtomsServer) -> None:
    stream, token = "canvas:json", shared_server.token()
    args = ["--url", shared_server.url, "--token", token]
    tail = subprocess.Popen([ATOMS, "tail", stream, "--json", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=shared_server.env, text=True)
    try:
        assert tail.stderr is not None and tail.stdout is not None
        assert "snapshot at seq 0" in tail.stderr.readline() + tail.stderr.readline()
        ok = subprocess.run([ATOMS, "post", stream, "log.append", '{"level": "info", "message": "hi"}', *args],
                            capture_output=True, text=True, env=shared_server.env, timeout=30)
        assert ok.returncode == 0 and json.loads(ok.stdout)["seq"] == 1
        envelope = EventEnvelope.model_validate_json(tail.stdout.readline())
        assert (envelope.seq, envelope.type.value, envelope.data["message"]) == (1, "log", "hi")
        refused = subprocess.run([ATOMS, "post", stream, "log.append", '{"level": "loud", "message": "x"}', *args],
                                 capture_output=True, text=True, env=shared_server.env, timeout=30)
        assert refused.returncode == 1 and json.loads(refused.stderr)["code"] == "validation_failed"
        tail.send_signal(signal.SIGINT)
        assert tail.wait(10) in (0, 130)
        assert "Traceback" not in tail.stderr.read()
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
