"""``atoms agent`` answers new user chat messages with a streamed reply, seen by a subscriber."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from client_support import Follower, until

from atoms_core.client import AtomsClient
from atoms_core.client.agent import reply_text
from servers import ATOMS, AtomsServer

STREAM = "canvas:agent"


@pytest.fixture
def agent_cli(shared_server: AtomsServer) -> Iterator[subprocess.Popen[str]]:
    """The agent as users run it, started after one user message that it must leave alone."""
    headers = {"Authorization": f"Bearer {shared_server.token()}"}
    with httpx.Client(base_url=shared_server.url, headers=headers) as http:
        response = http.post(f"/v1/streams/{STREAM}/commands", json={
            "command_id": "old-message", "type": "chat.post", "stream_id": STREAM,
            "payload": {"role": "user", "text": "an old question"}})
        assert response.status_code == 202
    # No --token: the agent mints its own from the server's dev keys, as `make run` users do.
    proc = subprocess.Popen([ATOMS, "agent", "--stream", STREAM, "--url", shared_server.url, "--data-dir",
                             str(shared_server.data_dir), "--tenant", "acme", "--delay", "0.002"],
                            stderr=subprocess.PIPE, text=True, env=shared_server.env)
    assert proc.stderr is not None
    assert "following canvas:agent from seq 1 (1 messages before)" in proc.stderr.readline()
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_atoms_agent_streams_a_reply_to_a_new_user_message_and_nothing_else(
        shared_server: AtomsServer, agent_cli: subprocess.Popen[str]) -> None:
    question = "What colour should the sky be?"
    async with AtomsClient(shared_server.url, lambda: shared_server.token(principal="ann")) as client:
        follower = Follower(client.subscribe(STREAM))
        await until(lambda: follower.sub.view.has_state)
        await client.command(STREAM, "chat.post", {"role": "user", "text": question})

        def chat() -> list[dict[str, object]]:
            return list(follower.sub.view.doc.get("chat", []))

        await until(lambda: len(chat()) == 3 and chat()[2]["text"] == reply_text(question), 30, "the reply")
        await asyncio.sleep(0.5)  # time for a wrong second answer (to the old or its own message) to show
        messages = chat()
        assert [(m["role"], m["author"]) for m in messages] == [("user", "alice"), ("user", "ann"),
                                                                ("assistant", "agent")]
        opened, ended = [e for e in follower.events if e.type.value == "state_patch"][-2:]
        assert opened.data["ops"][0]["path"] == "/chat/2" and opened.data["ops"][0]["value"]["text"] == ""
        assert messages[2]["finish_reason"] == "stop" and "interrupted" not in messages[2]
        assert ended.seq < [e for e in follower.events if e.type.value == "token_patch"][-1].seq, \
            "the finish fields land before the final chunk, so a viewer never sees a final reply without them"
        chunks = [e.data for e in follower.events if e.type.value == "token_patch"]
        assert len(chunks) > 1, "the reply must be streamed, not posted in one piece"
        assert {c["target"] for c in chunks} == {"/chat/2/text"}
        assert [c["index"] for c in chunks] == list(range(len(chunks))) and chunks[-1]["final"]
        await follower.stop()

    agent_cli.send_signal(signal.SIGINT)
    assert agent_cli.wait(10) in (0, 130)
    assert agent_cli.stderr is not None
    log = agent_cli.stderr.read()
    assert "answered with /chat/2" in log and "Traceback" not in log
