"""The long one: 3-second tickets over 30 s of events. The server ends every stream and socket at its
ticket's expiry (leeway 0); the Python client resumes each stream with a fresh ticket and
``Last-Event-ID`` and replaces each socket before it expires. Every event arrives exactly once, in
order, and the other peer never sees this one leave the room."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from client_support import Follower, until

from atoms_core.client import AtomsClient
from servers import AtomsServer, running_server

STREAM = "canvas:refresh"
SECONDS, RATE = 30.0, 10  # events a second


@pytest.fixture
def short_tickets(tmp_path: Path) -> Iterator[AtomsServer]:
    env = {"ATOMS_TICKET_TTL_S": "3", "ATOMS_JWT_LEEWAY_S": "0"}
    with running_server(tmp_path / "data", env=env) as srv:
        yield srv


async def test_three_second_tickets_over_thirty_seconds(short_tickets: AtomsServer) -> None:
    server = short_tickets
    async with AtomsClient(server.url, lambda: server.token(principal="ann")) as ann, \
            AtomsClient(server.url, lambda: server.token(principal="bob")) as bob:
        follower = Follower(ann.subscribe(STREAM))
        ann_presence, bob_presence = ann.presence(STREAM), bob.presence(STREAM)
        await ann_presence.connect()
        await bob_presence.connect()
        listeners = [asyncio.create_task(_drain(p)) for p in (ann_presence, bob_presence)]
        await until(lambda: any(p["principal_id"] == "ann" for p in bob_presence.peers.values()), what="ann joins")

        absent_samples, samples, sent = 0, 0, 0
        start = time.monotonic()
        next_at = start
        while time.monotonic() - start < SECONDS:
            await ann.command(STREAM, "state.patch", {"ops": [{"op": "add", "path": f"/n{sent}", "value": sent}]})
            sent += 1
            samples += 1
            if not any(p["principal_id"] == "ann" for p in bob_presence.peers.values()):
                absent_samples += 1
            next_at += 1 / RATE
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        await until(lambda: len(follower.events) >= sent, timeout=15, what="every event")
        seqs = [event.seq for event in follower.events]
        assert seqs == sorted(set(seqs)) and len(seqs) == sent, "an event was lost or seen twice"
        assert follower.sub.view.doc == {f"n{i}": i for i in range(sent)}
        # the server really ended the streams on expiry (30 s of 3 s tickets: about ten times)
        assert len(follower.controls("disconnected")) >= 7
        assert absent_samples == 0, f"bob saw ann absent in {absent_samples} of {samples} samples"

        await follower.stop()
        for presence in (ann_presence, bob_presence):
            await presence.close()
        await asyncio.gather(*listeners, return_exceptions=True)


async def _drain(presence: object) -> None:
    async for _ in presence.messages():  # type: ignore[attr-defined]
        pass
