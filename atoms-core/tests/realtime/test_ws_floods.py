"""One principal cannot get anyone else disconnected, over real sockets: socket caps per principal and
per tenant (429 problem+json), and presence and gesture bursts of many sockets that leave a fast reader
connected, with the latest state of every peer (issue 13, finding 5)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from ws_peers import WsPeer, cpu_seconds, latest_states, new_stream, send_presence_burst, until, ws_url

from atoms_core.config.settings import Settings
from servers import AtomsServer, running_server
from streams_api import metric


@pytest.fixture(scope="module")
def crowd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """Defaults, except that one principal may hold 100 sockets: the presence fan-out alone must be fair."""
    env = {"ATOMS_WS_MAX_PER_PRINCIPAL": "100"}
    with running_server(tmp_path_factory.mktemp("ws-crowd") / "data", env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """Two sockets per principal, three per tenant."""
    env = {"ATOMS_WS_MAX_PER_PRINCIPAL": "2", "ATOMS_WS_MAX_PER_TENANT": "3"}
    with running_server(tmp_path_factory.mktemp("ws-capped") / "data", env=env) as srv:
        yield srv


async def presence_burst(server: AtomsServer, victim: WsPeer, flooders: list[WsPeer], rounds: int = 2) -> float:
    """Every flooder sends ``rounds`` max-size presence updates at once; wait until the victim holds the last
    state of each (or was closed). Returns the server's CPU seconds over the burst and one quiet second."""
    assert server.proc is not None
    cpu_before = cpu_seconds(server.proc.pid)
    await send_presence_burst(flooders, rounds)
    expected = latest_states(flooders, rounds)
    await until(lambda: victim.conn.close_code is not None
                or all(victim.view().get(peer_id) == state for peer_id, state in expected.items()), timeout=60)
    await asyncio.sleep(1.0)  # what the burst set off (closes, leaves) settles too
    return cpu_seconds(server.proc.pid) - cpu_before


async def assert_unharmed(victim: WsPeer, flooders: list[WsPeer], rounds: int = 2) -> None:
    """The victim is still connected and sees the latest state of every flooder, nothing else."""
    assert victim.conn.close_code is None, (victim.conn.close_code, victim.conn.close_reason)
    await victim.send({"type": "ping", "ts": 1})
    await victim.expect("pong")
    assert victim.view() == latest_states(flooders, rounds)
    assert victim.of_type("error") == []


async def test_a_presence_burst_of_80_sockets_keeps_a_fast_reader_with_every_latest_state(
        crowd_server: AtomsServer) -> None:
    """The flood of issue 13/5: 80 sockets of one principal each send max-size presence updates in the same
    tick. An innocent reader that keeps up must stay connected and end with the latest state of every peer."""
    stream = new_stream()
    victim = await WsPeer.join(crowd_server, stream, crowd_server.token(principal="victim"))
    token = crowd_server.token(principal="mallory")
    assert crowd_server.proc is not None
    cpu_before = cpu_seconds(crowd_server.proc.pid)
    flooders = list(await asyncio.gather(*(WsPeer.join(crowd_server, stream, token, check=False)
                                           for _ in range(80))))
    await victim.expect_n("presence.join", 80, timeout=30)
    handshakes = cpu_seconds(crowd_server.proc.pid) - cpu_before
    cpu = await presence_burst(crowd_server, victim, flooders)
    print(f"\npresence burst: 80 handshakes server CPU {handshakes:.2f}s; 80 sockets x 2 max-size updates, "
          f"server CPU {cpu:.2f}s")
    await assert_unharmed(victim, flooders)
    assert all(peer.conn.close_code is None for peer in flooders), "the flooders, readers too, stay connected"
    await asyncio.gather(victim.close(), *(p.close() for p in flooders))


async def test_one_principal_gets_at_most_its_cap_of_sockets_and_cannot_harm_a_reader(
        shared_server: AtomsServer) -> None:
    """The same flood at the default settings: 80 handshakes of one principal get ``ws_max_per_principal``
    sockets and 429 ``too_many_connections`` for the rest; the burst of those sockets harms no reader."""
    stream = new_stream()
    victim = await WsPeer.join(shared_server, stream, shared_server.token(principal="victim"))
    token = shared_server.token(principal="mallory")
    refused_before = metric(shared_server.url, "atoms_connections_refused_total", 'kind="ws",scope="principal"')
    assert shared_server.proc is not None
    cpu_before = cpu_seconds(shared_server.proc.pid)
    attempts = await asyncio.gather(*(WsPeer.join(shared_server, stream, token, check=False) for _ in range(80)),
                                    return_exceptions=True)
    flooders = [peer for peer in attempts if isinstance(peer, WsPeer)]
    await victim.expect_n("presence.join", len(flooders), timeout=30)
    handshakes = cpu_seconds(shared_server.proc.pid) - cpu_before
    cpu = await presence_burst(shared_server, victim, flooders)
    print(f"\npresence burst at the default cap: 80 handshakes ({len(flooders)} accepted) server CPU "
          f"{handshakes:.2f}s; {len(flooders)} sockets x 2 max-size updates, server CPU {cpu:.2f}s")
    await assert_unharmed(victim, flooders)

    cap = Settings.model_fields["ws_max_per_principal"].default
    assert len(flooders) == cap < 80
    refusals = [error for error in attempts if not isinstance(error, WsPeer)]
    assert all(isinstance(error, InvalidStatus) for error in refusals), refusals
    problems = {(e.response.status_code, json.loads(e.response.body)["code"]) for e in refusals}  # type: ignore[union-attr]
    assert problems == {(429, "too_many_connections")}
    refused = metric(shared_server.url, "atoms_connections_refused_total", 'kind="ws",scope="principal"')
    assert refused == refused_before + 80 - cap
    await asyncio.gather(victim.close(), *(p.close() for p in flooders))
    await until(lambda: metric(shared_server.url, "atoms_ws_connections") == 0)


async def test_a_gesture_burst_of_one_principal_drops_gestures_not_readers(shared_server: AtomsServer) -> None:
    """All the sockets one principal may hold send a second's burst of near-max-size gestures at once. A
    reader that keeps up misses some gestures (they are ephemeral) but keeps its connection, and so do they."""
    stream = new_stream()
    victim = await WsPeer.join(shared_server, stream, shared_server.token(principal="victim"), check=False)
    cap = Settings.model_fields["ws_max_per_principal"].default
    token = shared_server.token(principal="mallory")
    flooders = list(await asyncio.gather(*(WsPeer.join(shared_server, stream, token, check=False)
                                           for _ in range(cap))))
    await victim.expect_n("presence.join", cap, timeout=30)
    gesture = {"type": "gesture", "kind": "drag", "data": {"pad": "x" * 15_000}}  # ws_max_frame_bytes is 16384
    for _ in range(60):  # ws_gesture_per_s 60, one second of burst: all of it is relayed
        await asyncio.gather(*(peer.send(gesture) for peer in flooders))
    await flooders[0].send({"type": "presence.update", "state": {"after": "burst"}})
    await victim.expect("presence.update", lambda m: m["state"] == {"after": "burst"}, timeout=30)
    assert victim.conn.close_code is None, (victim.conn.close_code, victim.conn.close_reason)
    assert victim.of_type("gesture"), "gestures still get through"
    assert all(peer.conn.close_code is None for peer in flooders)
    await asyncio.gather(victim.close(), *(p.close() for p in flooders))
    await until(lambda: metric(shared_server.url, "atoms_ws_connections") == 0)


async def test_sockets_beyond_the_principal_or_tenant_cap_get_429_problem_json(capped_server: AtomsServer) -> None:
    url = capped_server.url

    async def refused(tenant: str, principal: str) -> dict[str, object]:
        stream = new_stream()
        ticket = capped_server.ticket(stream, ["presence"], capped_server.token(tenant=tenant, principal=principal))
        with pytest.raises(InvalidStatus) as info:
            await connect(ws_url(capped_server, stream, ticket))
        response = info.value.response
        assert response.status_code == 429
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["retry-after"] == "1"
        problem: dict[str, object] = json.loads(response.body)
        assert problem["code"] == "too_many_connections"
        return problem

    def refusals(scope: str) -> float:
        return metric(url, "atoms_connections_refused_total", f'kind="ws",scope="{scope}"')

    ann = capped_server.token(principal="ann")
    first = await WsPeer.join(capped_server, new_stream(), ann)
    second = await WsPeer.join(capped_server, new_stream(), ann)  # the cap counts across streams
    problem = await refused("acme", "ann")
    assert (problem["scope"], problem["limit"]) == ("principal", 2) and "'ann'" in str(problem["detail"])
    assert refusals("principal") == 1

    bob = await WsPeer.join(capped_server, new_stream(), capped_server.token(principal="bob"))
    problem = await refused("acme", "cid")  # acme holds 3 sockets: its cap
    assert (problem["scope"], problem["limit"]) == ("tenant", 3)
    assert refusals("tenant") == 1
    elsewhere = await WsPeer.join(capped_server, new_stream(), capped_server.token(tenant="globex", principal="ann"))

    await first.close()  # a closed socket frees its place at once
    await until(lambda: metric(url, "atoms_ws_connections") == 3)
    again = await WsPeer.join(capped_server, new_stream(), ann)
    await again.send({"type": "ping"})
    await again.expect("pong")
    for peer in (second, bob, elsewhere, again):
        await peer.close()
    await until(lambda: metric(url, "atoms_ws_connections") == 0)
    assert (refusals("principal"), refusals("tenant")) == (1, 1)
