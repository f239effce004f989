"""Following a stream against a real server: restart, heartbeat loss, refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from client_support import Follower, until

from atoms_core.client import AtomsClient, ProblemError
from servers import AtomsServer, running_server


async def test_subscriber_cut_off_by_a_server_restart_ends_with_exactly_the_servers_state(
        server: AtomsServer) -> None:
    token = server.token()
    stream = "canvas:restart"
    async with AtomsClient(server.url, lambda: token, command_retries=10) as client:
        follower = Follower(client.subscribe(stream))
        await until(lambda: follower.sub.view.has_state, what="the first snapshot")
        await client.command(stream, "state.patch", {"ops": [{"op": "add", "path": "/log", "value": []},
                                                             {"op": "add", "path": "/text", "value": ""}]})
        streamer = client.token_streamer(stream, "/text")

        async def write(start: int, stop: int) -> None:
            for i in range(start, stop):
                await client.command(stream, "state.patch", {"ops": [{"op": "add", "path": "/log/-", "value": i}]})
                streamer.write(f"{i} ")
                await asyncio.sleep(0.01)
            await streamer.flush()

        await write(0, 20)
        await asyncio.wait_for(follower.sub.wait_for_seq((await client.state(stream))["seq"]), 10)
        writer = asyncio.create_task(write(20, 80))  # keeps writing through the restart (retries)
        await asyncio.sleep(0.1)
        await asyncio.to_thread(server.restart)
        await writer
        await streamer.close()

        final = await client.state(stream)
        await asyncio.wait_for(follower.sub.wait_for_seq(final["seq"]), 15)
        view = follower.sub.view
        assert (view.doc, view.seq, view.version) == (final["state"], final["seq"], final["version"])
        assert final["state"]["log"] == list(range(80))
        assert final["state"]["text"] == "".join(f"{i} " for i in range(80))
        assert [e.seq for e in follower.events] == list(range(1, final["seq"] + 1))  # each once, in order
        assert follower.controls("disconnected"), "the restart should have cut the stream"
        # It resumed with Last-Event-ID: the only snapshot is the one of the first connect.
        assert len(follower.controls("state_snapshot")) == 1
        await follower.stop()


@pytest.fixture(scope="module")
def pinging_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    with running_server(tmp_path_factory.mktemp("ping") / "data", env={"ATOMS_SSE_HEARTBEAT_S": "0.2"}) as srv:
        yield srv


async def test_heartbeats_keep_a_quiet_stream_open_and_their_loss_triggers_a_resume(
        pinging_server: AtomsServer) -> None:
    token = pinging_server.token()
    stream = "canvas:quiet"
    async with AtomsClient(pinging_server.url, lambda: token, heartbeat_timeout=1.0) as steady_client, \
            AtomsClient(pinging_server.url, lambda: token, heartbeat_timeout=0.1) as deaf_client:
        await steady_client.command(stream, "log.append", {"level": "info", "message": "before"})
        steady = Follower(steady_client.subscribe(stream))
        deaf = Follower(deaf_client.subscribe(stream))  # hears pings only every 0.2 s: always "lost"
        await until(lambda: bool(deaf.controls("disconnected")), 5, "a heartbeat timeout")
        await asyncio.sleep(1.5)
        result = await steady_client.command(stream, "log.append", {"level": "info", "message": "after"})
        for follower in (steady, deaf):
            await asyncio.wait_for(follower.sub.wait_for_seq(result.seq), 10)
        assert steady.controls("disconnected") == []
        assert "heartbeat" in deaf.controls("disconnected")[0].data["reason"]
        assert [e.seq for e in steady.events] == [e.seq for e in deaf.events] == [2]
        for follower in (steady, deaf):
            await follower.stop()


async def test_a_refused_subscription_raises_the_problem_instead_of_retrying(tmp_path: Path,
                                                                             shared_server: AtomsServer) -> None:
    token = shared_server.token()
    async with AtomsClient(shared_server.url, lambda: token) as client:
        with pytest.raises(ProblemError) as caught:
            async for _ in client.subscribe("canvas:no spaces allowed"):
                pass
    assert caught.value.status in (400, 422)
    assert caught.value.code in ("invalid_stream_id", "validation_failed")
