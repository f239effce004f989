"""``TokenStreamer`` against a real server: few requests, exact text everywhere, index and final."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from client_support import Follower, until

from atoms_core.client import AtomsClient, CommandError
from servers import AtomsServer

TOKENS = 10_000


def tokens() -> list[str]:
    words = ["alpha ", "beta ", "γάμμα ", "δ ", "🎨 ", "line\n", "tab\t", "\"quoted\" ", "x"]
    return [f"{words[i % len(words)]}{i} " for i in range(TOKENS)]


async def test_ten_thousand_tokens_take_few_requests_and_every_subscriber_gets_the_exact_text(
        shared_server: AtomsServer) -> None:
    stream, target = "canvas:tokens", "/doc/text"
    token = shared_server.token()
    posts: list[httpx.Request] = []

    async def count(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/commands"):
            posts.append(request)

    http = httpx.AsyncClient(event_hooks={"request": [count]})
    async with AtomsClient(shared_server.url, lambda: token, http=http) as writer, \
            AtomsClient(shared_server.url, lambda: token) as reader:
        followers = [Follower(reader.subscribe(stream)) for _ in range(3)]
        await until(lambda: all(f.sub.view.has_state for f in followers), what="subscribers to connect")
        await writer.command(stream, "state.patch", {"ops": [{"op": "add", "path": "/doc", "value": {"text": ""}}]})
        before = len(posts)

        started = time.perf_counter()
        streamer = writer.token_streamer(stream, target)
        for piece in tokens():
            streamer.write(piece)
            await asyncio.sleep(0)  # a producer that yields, as a model client would
        await streamer.close()
        elapsed = time.perf_counter() - started
        requests = len(posts) - before

        expected = "".join(tokens())
        final = await writer.state(stream)
        assert final["state"]["doc"]["text"] == expected
        for follower in followers:
            await asyncio.wait_for(follower.sub.wait_for_seq(final["seq"]), 10)
            assert follower.sub.view.doc["doc"]["text"] == expected
        patches = [e.data for e in followers[0].events if e.type.value == "token_patch"]
        assert [p["index"] for p in patches] == list(range(len(patches)))
        assert [p["final"] for p in patches] == [False] * (len(patches) - 1) + [True]
        assert requests == streamer.requests
        assert requests < TOKENS / 10, f"{requests} requests for {TOKENS} tokens"
        print(f"\n{TOKENS} tokens ({len(expected)} chars) -> {requests} requests, {len(patches)} token_patch "
              f"events, {elapsed:.2f} s")
        for follower in followers:
            await follower.stop()
    await http.aclose()


async def test_a_slow_producer_is_flushed_by_time_and_close_sends_a_final_marker(
        shared_server: AtomsServer) -> None:
    stream = "canvas:slow"
    async with AtomsClient(shared_server.url, lambda: shared_server.token()) as client:
        await client.command(stream, "state.patch", {"ops": [{"op": "add", "path": "/t", "value": ""}]})
        streamer = client.token_streamer(stream, "/t", interval=0.02)
        streamer.write("first ")
        await asyncio.sleep(0.3)  # nothing else written: the time-based flush must have sent it
        assert (await client.state(stream))["state"]["t"] == "first "
        streamer.write("second")
        await streamer.close()
        history = (await client.session.get_json(client.session.stream_url(stream, "history")))["events"]
        chunks = [e["data"] for e in history if e["type"] == "token_patch"]
        assert [(c["delta"], c["index"], c["final"]) for c in chunks] == [("first ", 0, False), ("second", 1, True)]

        empty = client.token_streamer(stream, "/t", start_index=2)
        await empty.close()
        assert (await client.state(stream))["state"]["t"] == "first second"
        history = (await client.session.get_json(client.session.stream_url(stream, "history")))["events"]
        assert history[-1]["data"] == {"target": "/t", "delta": "", "index": 2, "final": True}


async def test_a_refused_chunk_stops_the_streamer_and_surfaces_the_problem(shared_server: AtomsServer) -> None:
    stream = "canvas:gap"
    async with AtomsClient(shared_server.url, lambda: shared_server.token()) as client:
        await client.command(stream, "state.patch", {"ops": [{"op": "add", "path": "/t", "value": ""}]})
        streamer = client.token_streamer(stream, "/t", start_index=4)
        streamer.write("lost")
        with pytest.raises(CommandError) as caught:
            await streamer.close()
        assert (caught.value.code, caught.value.problem["expected_index"]) == ("token_gap", 0)
        with pytest.raises(CommandError):
            streamer.write("more")
