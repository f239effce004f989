"""The one ``PresenceBus`` contract (``engine/presence.py``), run against the local bus and the Redis bus.

A cluster is the nodes that share a bus: the local bus is a cluster of one process, the Redis bus two
nodes on one real ``redis-server``. Each node records what its bus hands to its rooms (the
``deliver`` callback), so every test asserts what rooms can rely on, whichever bus carries them:
every node with peers in a ``(tenant, stream)`` gets each message published there once, in the
publisher's order, the publishing node before ``publish`` returns; no message reaches another
partition; ``remote_peers`` is the partition's peers on the other nodes. Each test uses partitions of
its own, so the Redis nodes share one server per module.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from atoms_core.engine.presence import CursorBatch, Frame, LocalBus, Outbound, PresenceBus
from atoms_core.protocol.contracts import Peer as PeerInfo
from atoms_core.protocol.contracts import (
    WsCursorPosition,
    WsPeerGesture,
    WsPeerUpdate,
    WsPresenceJoin,
    WsPresenceLeave,
)
from atoms_core.protocol.timeline import Partition
from atoms_core.stores.redis import RedisStore
from atoms_core.stores.redis_presence import RedisPresence, channel_of
from atoms_core.stores.redis_pubsub import PubSubLink
from redis_server import RedisServer, running_redis

BUSES = ["local", "redis"]
TTL_S = 1.5
TIMEOUT_S = 10.0
QUIET_S = 0.4  # long enough for a duplicate (relay and hash read racing) to show up


@dataclass
class Node:
    """One process's end of the bus, and what the bus delivered to its rooms."""

    name: str
    bus: PresenceBus = field(init=False)
    inbox: list[tuple[Partition, Outbound]] = field(default_factory=list)

    def deliver(self, partition: Partition, message: Outbound) -> None:
        self.inbox.append((partition, message))

    def received(self, partition: Partition) -> list[Outbound]:
        return [message for part, message in self.inbox if part == partition]

    def texts(self, partition: Partition) -> list[str]:
        return [m.text for m in self.received(partition) if isinstance(m, Frame)]


class Cluster:
    """The nodes of one bus; ``settle`` waits until every node with peers in a partition listens to it."""

    def __init__(self, kind: str, nodes: list[Node], server: RedisServer | None = None) -> None:
        self.kind = kind
        self.nodes = nodes
        self.server = server
        self._store: RedisStore | None = None

    async def settle(self, partition: Partition, listeners: int) -> None:
        if self.server is None:
            return
        if self._store is None:
            self._store = RedisStore(self.server.url)
            await self._store.open()
        store = self._store
        channel = channel_of(partition)

        async def subscribed() -> bool:
            counts = await store.client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
            return int(counts[1]) == listeners

        await eventually_async(subscribed)

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis"), persist=False) as server:
        yield server


@pytest.fixture(params=BUSES)
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    if request.param == "local":
        node = Node("local")
        node.bus = LocalBus(node.deliver)
        yield Cluster("local", [node])
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    nodes, parts = [], []
    for name in ("a", "b"):
        node = Node(name)
        store, link = RedisStore(server.url), PubSubLink(server.url)
        await store.open()
        presence = RedisPresence(store, link, f"node-{name}-{uuid.uuid4().hex[:6]}", TTL_S)
        node.bus = presence.bus(node.deliver)
        await link.start()
        await presence.start()
        nodes.append(node)
        parts.append((store, link, presence))
    cluster = Cluster("redis", nodes, server)
    yield cluster
    await cluster.close()
    for store, link, presence in parts:
        await presence.stop()
        await link.stop()
        await store.close()


def partition(tenant: str | None = None, stream: str = "canvas:c1") -> Partition:
    return Partition(tenant or f"t-{uuid.uuid4().hex[:8]}", stream)


def join(peer_id: str, principal: str = "alice") -> Frame:
    info = PeerInfo(peer_id=peer_id, principal_id=principal, state={})
    return Frame(WsPresenceJoin(peer=info).model_dump_json(), peer_id)


def update(peer_id: str, state: dict[str, object]) -> Frame:
    return Frame(WsPeerUpdate(peer_id=peer_id, state=state).model_dump_json(), peer_id, "latest")


def leave(peer_id: str) -> Frame:
    return Frame(WsPresenceLeave(peer_id=peer_id).model_dump_json(), peer_id, "leave")


def gesture(peer_id: str, n: int) -> Frame:
    return Frame(WsPeerGesture(peer_id=peer_id, kind="wave", data={"n": n}).model_dump_json(), peer_id, "lossy")


def cursors(peer_id: str, x: float) -> CursorBatch:
    return CursorBatch({peer_id: WsCursorPosition(peer_id=peer_id, x=x, y=1).model_dump_json()})


async def eventually_async(check: Callable[[], object]) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "the bus did not deliver in time"
        await asyncio.sleep(0.01)


async def populate(cluster: Cluster, part: Partition) -> list[str]:
    """A peer joins ``part`` on every node (as a room does); returns their peer ids, by node."""
    peers = [f"{node.name}-{uuid.uuid4().hex[:6]}" for node in cluster.nodes]
    for node, peer_id in zip(cluster.nodes, peers, strict=True):
        node.bus.publish(part, join(peer_id))
    await cluster.settle(part, len(cluster.nodes))
    for node in cluster.nodes:  # every node knows every peer: the relay or the shared membership told it
        await eventually_async(lambda node=node: {p for p in peers if join(p).text in node.texts(part)} == set(peers))
    return peers


def from_peer(node: Node, part: Partition, peer_id: str) -> list[Outbound]:
    """What ``node`` got in ``part`` that ``peer_id`` sent (its join aside: a node may learn of it from the
    shared membership instead of the relay)."""
    return [m for m in node.received(part)
            if (isinstance(m, CursorBatch) and peer_id in m.items)
            or (isinstance(m, Frame) and m.origin == peer_id and m.text != join(peer_id).text)]


async def test_the_publishing_node_delivers_before_publish_returns(cluster: Cluster) -> None:
    part = partition()
    for node in cluster.nodes:
        message = join(f"{node.name}-1")
        node.bus.publish(part, message)
        assert node.inbox[-1] == (part, message)


async def test_every_node_gets_each_kind_of_message_once_in_the_publishers_order(cluster: Cluster) -> None:
    part = partition()
    peers = await populate(cluster, part)
    sender, origin = cluster.nodes[0], peers[0]
    sent: list[Outbound] = [update(origin, {"name": "Ann"}), gesture(origin, 1), cursors(origin, 10.5),
                            update(origin, {"name": "Ann", "color": "teal"}), gesture(origin, 2), leave(origin)]
    for message in sent:
        sender.bus.publish(part, message)
    for node in cluster.nodes:
        await eventually_async(lambda node=node: len(from_peer(node, part, origin)) >= len(sent))
    await asyncio.sleep(QUIET_S)
    for node in cluster.nodes:
        assert from_peer(node, part, origin) == sent, node.name
        assert node.texts(part).count(join(origin).text) == 1, f"{node.name}: each peer joins exactly once"


async def test_a_burst_keeps_its_order_on_every_node(cluster: Cluster) -> None:
    part = partition()
    peers = await populate(cluster, part)
    sent = [gesture(peers[-1], n) for n in range(300)]
    for message in sent:
        cluster.nodes[-1].bus.publish(part, message)
    for node in cluster.nodes:
        await eventually_async(lambda node=node: len(from_peer(node, part, peers[-1])) >= len(sent))
    await asyncio.sleep(QUIET_S)
    for node in cluster.nodes:
        assert from_peer(node, part, peers[-1]) == sent, node.name


async def test_no_message_reaches_another_tenant_or_stream(cluster: Cluster) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    # Same stream in a look-alike tenant, another stream of the same tenant.
    parts = [partition(tenant), partition(tenant + ".eu"), partition(tenant, "canvas:c2"), partition(tenant, "run:c1")]
    peers = {part: await populate(cluster, part) for part in parts}
    for part in parts:
        for node, peer_id in zip(cluster.nodes, peers[part], strict=True):
            node.bus.publish(part, gesture(peer_id, hash(part)))
    for node in cluster.nodes:
        for part in parts:
            await eventually_async(lambda node=node, part=part: all(
                gesture(p, hash(part)).text in node.texts(part) for p in peers[part]))
    await asyncio.sleep(QUIET_S)
    for node in cluster.nodes:
        for part, message in node.inbox:
            assert isinstance(message, Frame)
            assert any(p in message.text for p in peers[part]), f"{node.name}: {message.text} leaked into {part}"


async def test_remote_peers_are_the_partitions_peers_on_the_other_nodes(cluster: Cluster) -> None:
    part, other = partition(), partition()
    peers = await populate(cluster, part)
    await populate(cluster, other)
    cluster.nodes[0].bus.publish(part, update(peers[0], {"name": "Ann"}))
    for i, node in enumerate(cluster.nodes):
        expected = {p: PeerInfo(peer_id=p, principal_id="alice", state={"name": "Ann"} if p == peers[0] else {})
                    for j, p in enumerate(peers) if j != i}
        await eventually_async(lambda node=node, expected=expected: {
            p.peer_id: p for p in node.bus.remote_peers(part)} == expected)
    cluster.nodes[0].bus.publish(part, leave(peers[0]))
    for node in cluster.nodes:
        await eventually_async(lambda node=node: peers[0] not in {p.peer_id for p in node.bus.remote_peers(part)})
    assert cluster.nodes[0].bus.remote_peers(partition()) == []


@pytest.mark.parametrize("cluster", ["redis"], indirect=True)  # the local bus has no link to lose
async def test_a_node_that_lost_its_link_catches_up_on_joins_and_leaves(cluster: Cluster) -> None:
    """Presence is at most once while a link is down; once it is back, the shared membership tells the
    node who joined and who left meanwhile, each once."""
    assert cluster.server is not None
    part = partition()
    peers = await populate(cluster, part)
    sender, watcher = cluster.nodes
    store = RedisStore(cluster.server.url)
    await store.open()
    try:
        await store.client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        late = f"late-{uuid.uuid4().hex[:6]}"
        sender.bus.publish(part, join(late))
        sender.bus.publish(part, leave(peers[0]))
        await cluster.settle(part, 2)
        await eventually_async(lambda: {p.peer_id for p in watcher.bus.remote_peers(part)} == {late})
        await eventually_async(lambda: leave(peers[0]).text in watcher.texts(part))
        await asyncio.sleep(QUIET_S)
        assert watcher.texts(part).count(join(late).text) == 1
        assert watcher.texts(part).count(leave(peers[0]).text) == 1
    finally:
        await store.close()



async def test_the_redis_bus_stops_while_a_relay_is_in_flight(redis_server: RedisServer) -> None:
    """redis-py can swallow a cancellation inside a pipeline; ``stop`` must return anyway (a node that
    never finishes stopping never closes its port)."""
    for attempt in range(40):
        store, link = RedisStore(redis_server.url), PubSubLink(redis_server.url)
        await store.open()
        presence = RedisPresence(store, link, f"stopper-{attempt}", TTL_S)
        presence.bus(lambda part, message: None)
        await presence.start()
        part = partition()
        for n in range(200):
            presence.publish(part, gesture(f"p{n}", n))
            if n % 20 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0.0005 * (attempt % 8))
        await asyncio.wait_for(presence.stop(), 5)
        await link.stop()
        await store.close()
