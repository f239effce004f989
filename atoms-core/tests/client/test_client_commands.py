"""Commands from the client: typed refusals without retries, idempotent retries through an outage."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from atoms_core.client import AtomsClient, CommandError, envelope
from servers import AtomsServer, free_port


class Recorder:
    """Every request the client really sends (an httpx event hook)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/commands"):
            self.bodies.append(request.content)

    def client(self, base_url: str, token: str, command_retries: int = 4) -> AtomsClient:
        http = httpx.AsyncClient(event_hooks={"request": [self]})
        return AtomsClient(base_url, lambda: token, http=http, command_retries=command_retries)


async def test_refusals_raise_a_typed_error_with_the_problem_and_are_sent_once(shared_server: AtomsServer) -> None:
    recorder = Recorder()
    stream = "canvas:refusals"
    async with recorder.client(shared_server.url, shared_server.token()) as client:
        first = await client.command(stream, "state.patch", {"ops": [{"op": "add", "path": "/t", "value": ""}]})
        cases = [
            ({"type": "state.patch", "payload": {"ops": [{"op": "remove", "path": "/missing"}]}}, 422, "patch_failed"),
            ({"type": "state.patch", "payload": {"ops": [{"op": "add", "path": "/x", "value": 1}]},
              "base_version": first.version + 5}, 409, "version_conflict"),
            ({"type": "token.append", "payload": {"target": "/t", "delta": "x", "index": 3}}, 409, "token_gap"),
        ]
        for body, status, code in cases:
            sent = len(recorder.bodies)
            with pytest.raises(CommandError) as caught:
                await client.command(stream, body["type"], body["payload"], base_version=body.get("base_version"))
            error = caught.value
            assert (error.status, error.code, error.attempts) == (status, code, 1)
            assert len(recorder.bodies) == sent + 1, "a 4xx must never be retried"
        assert error.problem["expected_index"] == 0
        assert (await client.state(stream))["seq"] == first.seq


async def test_a_repeated_command_id_returns_the_first_result_and_appends_nothing(shared_server: AtomsServer) -> None:
    stream = "canvas:repeat"
    async with AtomsClient(shared_server.url, lambda: shared_server.token()) as client:
        payload = {"level": "info", "message": "once"}
        first = await client.command(stream, "log.append", payload, command_id="fixed-id-1")
        again = await client.command(stream, "log.append", payload, command_id="fixed-id-1")
        batch = await client.command_batch(stream, [envelope(stream, "log.append", payload, "fixed-id-1"),
                                                    envelope(stream, "log.append", payload, "fixed-id-2")])
        assert (first.duplicate, again.duplicate, again.seq) == (False, True, first.seq)
        assert [r.duplicate for r in batch.results] == [True, False]
        assert (await client.state(stream))["seq"] == first.seq + 1


async def test_a_command_is_retried_through_a_server_outage_with_the_same_command_id(server: AtomsServer) -> None:
    recorder = Recorder()
    stream = "canvas:outage"
    async with recorder.client(server.url, server.token(), command_retries=10) as client:
        await asyncio.to_thread(server.kill)
        sending = asyncio.create_task(client.command(stream, "log.append", {"level": "info", "message": "m"}))
        await asyncio.sleep(0.8)
        await asyncio.to_thread(server.start)
        result = await asyncio.wait_for(sending, 20)
        assert len(recorder.bodies) >= 2, "the first attempts met a closed port"
        assert {json.loads(b)["command_id"] for b in recorder.bodies} == {result.command_id}
        state = await client.state(stream)
        assert (state["seq"], result.seq) == (1, 1)


async def test_network_failures_give_up_after_the_retries_with_a_network_error() -> None:
    async with AtomsClient(f"http://127.0.0.1:{free_port()}", lambda: "unused", command_retries=2) as client:
        with pytest.raises(CommandError) as caught:
            await client.command("canvas:x", "log.append", {"level": "info", "message": "m"})
    assert (caught.value.status, caught.value.code, caught.value.attempts) == (0, "network_error", 3)
