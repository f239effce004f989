"""``atoms agent --provider openai|anthropic`` against recorded provider streams: the answer, the key from
config, a person's stop reaching the agent through the timeline, and a kill mid-answer resumed exactly."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_support import Follower, until

from atoms_core.client import AtomsClient
from provider_replay import STREAMS, ReplayServer
from servers import ATOMS, AtomsServer

TEXT = "Hello! The sky is often blue — but at dusk it turns 橙色 and 🌅 pink.\n\nCafé au lait?"
#: What ``story_stall`` streams before it stalls (ending in whitespace, which an Anthropic prefill may not).
STORY = "Once upon a time, a fox 🦊 found a lantern in the snow.\n\n"
#: ``story_continued`` continues it (a model asked to continue); ``story_again`` answers afresh, the same start.
CONTINUED = STORY + "It glowed amber, and the fox carried it home through the birches."
AGAIN = STORY + "It was warm, and the fox slept beside it until spring."


def recorded_text(model: str) -> str:
    """The whole answer of an OpenAI chat recording, read from its ``data:`` lines without any SDK."""
    parts = []
    for line in (STREAMS / "openai_chat" / f"{model}.sse").read_text().splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                parts.append(choice["delta"].get("content") or "")
    return "".join(parts)


LONG = recorded_text("long")


class Agent:
    """``atoms agent`` as a user runs it; ``lines`` collects its stderr."""

    def __init__(self, server: AtomsServer, stream: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([ATOMS, "agent", "--stream", stream, "--url", server.url, "--data-dir",
                                      str(server.data_dir), "--tenant", "acme", *args],
                                     stderr=subprocess.PIPE, text=True, env={**server.env, **(env or {})})
        assert self.proc.stderr is not None
        self.first = self.proc.stderr.readline()
        assert "following " + stream in self.first, self.first

    def stop(self, sig: int = signal.SIGINT) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        assert self.proc.stderr is not None
        return self.first + self.proc.stderr.read()


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer(delay=0.01) as server:
        yield server


def openai_env(replay: ReplayServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-from-env", "OPENAI_BASE_URL": f"{replay.url}/v1"}


async def ask(client: AtomsClient, stream: str, follower: Follower, question: str = "What colour is the sky?") -> int:
    """Post a user message; return the position its reply takes (just after it)."""
    message_id = uuid.uuid4().hex
    result = await client.command(stream, "chat.post", {"message_id": message_id, "role": "user", "text": question})
    await follower.sub.wait_for_seq(result.seq)
    return [m["message_id"] for m in chat(follower)].index(message_id) + 1


def chat(follower: Follower) -> list[dict[str, Any]]:
    return list(follower.sub.view.doc.get("chat", []))


def ended(follower: Follower, at: int) -> bool:
    messages = chat(follower)
    return len(messages) > at and ("finish_reason" in messages[at])


async def wait_end(follower: Follower, at: int, agent: Agent, timeout: float = 20) -> None:
    """Until ``/chat/<at>`` has its ``finish_reason``; on a timeout the agent's log is in the error."""
    try:
        await until(lambda: ended(follower, at), timeout, f"the end of /chat/{at}")
    except AssertionError as err:
        raise AssertionError(f"{err}; chat {chat(follower)}; agent log:\n{agent.stop(signal.SIGKILL)}") from None


def chunks(follower: Follower, at: int) -> list[dict[str, Any]]:
    return [e.data for e in follower.events if e.type.value == "token_patch" and e.data["target"] == f"/chat/{at}/text"]


async def one_answer(server: AtomsServer, stream: str, agent: Agent) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A person asks once; the agent's ended reply and its chunks, as a viewer rebuilt them."""
    async with AtomsClient(server.url, lambda: server.token(principal="ann")) as client:
        follower = Follower(client.subscribe(stream))
        await until(lambda: follower.sub.view.has_state)
        at = await ask(client, stream, follower)
        await wait_end(follower, at, agent)
        await follower.stop()
        return chat(follower)[at], chunks(follower, at)


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_the_openai_provider_answers_with_the_key_of_the_sdks_own_variable(
        shared_server: AtomsServer, replay: ReplayServer, api: str) -> None:
    stream = f"canvas:a-{uuid.uuid4().hex[:10]}"
    agent = Agent(shared_server, stream, "--provider", "openai", "--model", "text", "--openai-api", api,
                  env=openai_env(replay))
    message, written = await one_answer(shared_server, stream, agent)
    assert (message["role"], message["author"], message["text"]) == ("assistant", "agent", TEXT)
    assert message["finish_reason"] == ("stop" if api == "chat" else "completed")
    assert written[-1]["final"] and "".join(c["delta"] for c in written) == TEXT
    log = agent.stop()
    assert "Traceback" not in log
    (request,) = replay.requests
    assert request.path == ("/v1/chat/completions" if api == "chat" else "/v1/responses")
    assert request.headers["authorization"] == "Bearer sk-from-env"
    assert request.body["stream"] is True and request.body["model"] == "text"
    turns = request.body["messages" if api == "chat" else "input"]
    assert turns == [{"role": "user", "content": "What colour is the sky?"}]
    if api == "chat":  # OpenAI's newer models refuse max_tokens
        assert request.body["max_completion_tokens"] == 1024 and "max_tokens" not in request.body
    else:
        assert request.body["max_output_tokens"] == 1024


async def test_the_anthropic_provider_takes_its_key_from_a_secret_reference_in_config(
        shared_server: AtomsServer, replay: ReplayServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\nprovider = "anthropic"\nmodel = "tools"\napi_key = "secret://env/CLAUDE_KEY"\n'
                      f'base_url = "{replay.url}"\nmax_output = 300\n')
    stream = f"canvas:a-{uuid.uuid4().hex[:10]}"
    agent = Agent(shared_server, stream, "--config", str(config),
                  env={"CLAUDE_KEY": "sk-ant-from-vault", "ANTHROPIC_API_KEY": "not-this-one"})
    message, _ = await one_answer(shared_server, stream, agent)
    assert message["text"] == "Let me check." and message["finish_reason"] == "tool_use"
    assert [call["name"] for call in message["tool_calls"]] == ["get_weather", "get_weather"]
    agent.stop()
    (request,) = replay.requests
    # SDK versions send the key as x-api-key or as a bearer token.
    sent = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
    assert request.path == "/v1/messages" and sent == "sk-ant-from-vault"
    assert request.body["max_tokens"] == 300


def test_a_provider_without_a_model_or_a_plain_key_is_a_config_error(shared_server: AtomsServer,
                                                                       tmp_path: Path) -> None:
    base = [ATOMS, "agent", "--stream", "canvas:x", "--url", shared_server.url, "--data-dir",
            str(shared_server.data_dir)]
    out = subprocess.run([*base, "--provider", "openai"], capture_output=True, text=True, env=shared_server.env,
                         timeout=30)
    assert out.returncode == 2 and "needs a model name" in out.stderr
    out = subprocess.run([*base, "--provider", "openai", "--model", "m"], capture_output=True, text=True,
                         env={**shared_server.env, "ATOMS_AGENT_API_KEY": "sk-plain"}, timeout=30)
    assert out.returncode == 2 and "agent_api_key" in out.stderr and "sk-plain" not in out.stderr


async def test_a_persons_stop_reaches_the_agent_through_the_timeline_within_a_second(
        shared_server: AtomsServer, replay: ReplayServer) -> None:
    stream = f"canvas:a-{uuid.uuid4().hex[:10]}"
    agent = Agent(shared_server, stream, "--provider", "openai", "--model", "long", env=openai_env(replay))
    async with AtomsClient(shared_server.url, lambda: shared_server.token(principal="ann")) as client:
        follower = Follower(client.subscribe(stream))
        await until(lambda: follower.sub.view.has_state)
        at = await ask(client, stream, follower)
        await until(lambda: len(chat(follower)) > at and len(chat(follower)[at]["text"]) > 100, 20, "some text")
        stop = await client.command(stream, "state.patch",
                                    {"ops": [{"op": "add", "path": f"/chat/{at}/stop_requested", "value": True}]})
        asked = time.monotonic()
        await wait_end(follower, at, agent, 5)
        took = time.monotonic() - asked
        await asyncio.sleep(0.5)  # a writer that ignored the stop would still be appending
        message = chat(follower)[at]
        written = chunks(follower, at)
        assert took < 1.0, f"the agent took {took:.2f} s to stop"
        assert message["interrupted"] is True and message["finish_reason"] == "stop_requested"
        assert LONG.startswith(message["text"]) and 100 < len(message["text"]) < len(LONG)
        assert written[-1]["final"] and [c["index"] for c in written] == list(range(len(written)))
        last = [e for e in follower.events if e.type.value == "token_patch"][-1]
        assert last.seq > stop.seq and last.data["final"]
        await follower.stop()
    assert "stop requested for /chat/" in agent.stop()


async def test_an_agent_killed_mid_answer_continues_the_same_message_with_no_token_twice_or_lost(
        shared_server: AtomsServer, replay: ReplayServer) -> None:
    stream = f"canvas:a-{uuid.uuid4().hex[:10]}"
    args = ("--provider", "openai", "--model", "long")
    first = Agent(shared_server, stream, *args, env=openai_env(replay))
    async with AtomsClient(shared_server.url, lambda: shared_server.token(principal="ann")) as client:
        follower = Follower(client.subscribe(stream))
        await until(lambda: follower.sub.view.has_state)
        at = await ask(client, stream, follower)
        await until(lambda: len(chat(follower)) > at and len(chat(follower)[at]["text"]) > 300, 20, "some text")
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        await asyncio.sleep(0.5)
        cut = chat(follower)[at]["text"]
        assert LONG.startswith(cut) and len(cut) < len(LONG) and "finish_reason" not in chat(follower)[at]

        second = Agent(shared_server, stream, *args, env=openai_env(replay))
        assert "1 unfinished replies" in second.first
        await wait_end(follower, at, second, 30)
        await asyncio.sleep(0.3)
        message = chat(follower)[at]
        assert message["text"] == LONG and message["finish_reason"] == "stop" and "interrupted" not in message
        written = chunks(follower, at)
        assert [c["index"] for c in written] == list(range(len(written))), "each chunk once, in order"
        assert "".join(c["delta"] for c in written) == LONG and written[-1]["final"]
        assert len(chat(follower)) == at + 1, "the same message continued, no second reply"
        await follower.stop()
    log = second.stop()
    assert f"resuming /chat/{at} after {len(cut)} characters" in log and "Traceback" not in log
    assert [r.body["model"] for r in replay.requests] == ["long", "long"], "the restarted agent asked again"
    asked = replay.requests[0].body["messages"]
    assert replay.requests[1].body["messages"] == [*asked, {"role": "assistant", "content": cut}]


def rebuilt(viewer: Follower, at: int) -> str:
    """The text ``viewer`` rebuilt from the chunks, checked against its view: each index once, in order."""
    written = chunks(viewer, at)
    assert [c["index"] for c in written] == list(range(len(written))), "each chunk once, in order"
    assert written[-1]["final"] and [c["final"] for c in written[:-1]] == [False] * (len(written) - 1)
    text = "".join(c["delta"] for c in written)
    assert chat(viewer)[at]["text"] == text
    return text


@pytest.mark.parametrize(("provider", "second", "expected"), [
    ("openai_chat", "story_continued", CONTINUED), ("openai_chat", "story_again", AGAIN),
    ("openai_responses", "story_continued", CONTINUED), ("openai_responses", "story_again", AGAIN),
    ("anthropic", "story_continued", CONTINUED)])
async def test_a_restarted_agent_appends_the_models_continuation_and_skips_only_a_repeated_start(
        shared_server: AtomsServer, provider: str, second: str, expected: str) -> None:
    """Killed while the model streams, restarted: the second request carries the text written as the
    last assistant turn; a continuation (another answer than the first) is appended whole, an answer
    given again is appended after its repeated start. Anthropic is sent the text without its trailing
    whitespace (a prefill may not end in it) and its continuation starts with that whitespace."""
    stream = f"canvas:a-{uuid.uuid4().hex[:10]}"
    with ReplayServer(delay=0.005, turns={"story": ["story_stall", second]}) as replay:
        if provider == "anthropic":
            args = ("--provider", "anthropic", "--model", "story")
            env = {"ANTHROPIC_API_KEY": "sk-ant-env", "ANTHROPIC_BASE_URL": replay.url}
        else:
            args = ("--provider", "openai", "--model", "story", "--openai-api", provider.removeprefix("openai_"))
            env = openai_env(replay)
        first = Agent(shared_server, stream, *args, env=env)
        async with AtomsClient(shared_server.url, lambda: shared_server.token(principal="ann")) as client:
            viewers = [Follower(client.subscribe(stream)) for _ in range(2)]
            await until(lambda: all(v.sub.view.has_state for v in viewers))
            at = await ask(client, stream, viewers[0], "Tell me a story.")
            await until(lambda: len(chat(viewers[0])) > at and chat(viewers[0])[at]["text"] == STORY, 20,
                        "the story up to where the model stalls")
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)
            assert "finish_reason" not in chat(viewers[0])[at]

            again = Agent(shared_server, stream, *args, env=env)
            assert "1 unfinished replies" in again.first
            await wait_end(viewers[0], at, again, 30)
            late = Follower(client.subscribe(stream))  # joins after: rebuilds from the snapshot
            await until(lambda: all(ended(v, at) for v in [*viewers, late]), what="the end at every viewer")
            for viewer in viewers:
                assert rebuilt(viewer, at) == expected
                assert chat(viewer)[at]["finish_reason"] in ("stop", "completed", "end_turn")
            assert chat(late)[at]["text"] == expected and len(chat(late)) == at + 1
            for viewer in [*viewers, late]:
                await viewer.stop()
        log = again.stop()
        assert f"resuming /chat/{at} after {len(STORY)} characters" in log and "Traceback" not in log
        asked, resumed = (r.body["input" if provider == "openai_responses" else "messages"] for r in replay.requests)
        assert asked == [{"role": "user", "content": "Tell me a story."}]
        prefill = STORY.rstrip() if provider == "anthropic" else STORY
        assert resumed == [*asked, {"role": "assistant", "content": prefill}], "the written text, to continue"

