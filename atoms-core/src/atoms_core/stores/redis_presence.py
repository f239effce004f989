"""Presence across nodes on Redis: the ``PresenceBus`` that relays room messages to the other nodes.

Per partition (the same hash tag as its timeline):

    atoms:{<tenant>:<stream>}:presence   shard channel: {"n": node, "f": frame, "o": origin}
                                         or {"n": node, "c": {peer_id: cursor}}
    atoms:{<tenant>:<stream>}:peers      Hash: peer_id -> {"node", "peer", "exp"} for peers on any node

A node listens only on partitions where it has peers. Its own records are refreshed every ``ttl/3``.
It keeps a view of the other nodes' peers — read from the hash when it (re)subscribes, then kept by
the relayed join/leave/update frames — which goes into each new local peer's ``presence.snapshot``.
Every ``ttl/3`` it reconciles that view with the hash and deletes records their node stopped
refreshing (a killed node); whoever deletes one relays its ``presence.leave``, so ghosts expire
within ``ttl`` plus a period. Presence is at most once: what is sent while the link is down is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

from redis.exceptions import RedisError

from atoms_core.engine.presence import CursorBatch, Deliver, Frame, Outbound
from atoms_core.protocol.contracts import Peer as PeerInfo
from atoms_core.protocol.contracts import WsPresenceJoin, WsPresenceLeave
from atoms_core.protocol.encoding import dumps
from atoms_core.protocol.timeline import Partition, StoreUnavailable
from atoms_core.stores.redis import RedisStore, partition_tag
from atoms_core.stores.redis_pubsub import PubSubLink

log = logging.getLogger("atoms.presence")

MAX_OUTBOX = 10_000
PRESENCE_PREFIX = '{"type":"presence.'  # joins, leaves and updates; contract models dump ``type`` first
Op = tuple[str, str, str, str]  # (verb, key or channel, field, value)


def channel_of(partition: Partition) -> str:
    return partition_tag(partition) + ":presence"


def peers_key(partition: Partition) -> str:
    return partition_tag(partition) + ":peers"


def presence_event(frame: Frame) -> dict[str, Any] | None:
    """The decoded join/leave/update in ``frame``; None for gestures (not decoded)."""
    if not frame.text.startswith(PRESENCE_PREFIX):
        return None
    event: dict[str, Any] = json.loads(frame.text)
    return event


def remote_frame(text: str, event: dict[str, Any]) -> Frame:
    """A relayed join/leave/update as the local rooms deliver it (see ``presence.Delivery``)."""
    if event["type"] == "presence.update":
        return Frame(text, event["peer_id"], "latest")
    if event["type"] == "presence.leave":
        return Frame(text, event["peer_id"], "leave")
    return Frame(text, event["peer"]["peer_id"])


class RedisPresence:
    def __init__(self, store: RedisStore, link: PubSubLink, node_id: str, ttl_s: float) -> None:
        self.store = store
        self.link = link
        self.node_id = node_id
        self.ttl_s = ttl_s
        self.period = max(ttl_s / 3, 0.05)
        self._deliver: Deliver = lambda partition, message: None
        self._local: dict[Partition, dict[str, dict[str, Any]]] = {}  # peers here: peer_id -> Peer JSON
        self._remote: dict[Partition, dict[str, PeerInfo]] = {}  # peers on other nodes, as last known
        self._touched: dict[Partition, set[str]] = {}  # peers with relayed news while a reconcile runs
        self._syncs: dict[str, asyncio.Future[None]] = {}  # a reconcile's marker -> its return
        self._outbox: list[Op] = []
        self._send_wake = asyncio.Event()
        self._reconcile_due: set[Partition] = set()
        self._reconcile_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def bus(self, deliver: Deliver) -> RedisPresence:
        """The ``bus_factory`` of ``Presence``: this process's rooms deliver through ``deliver``."""
        self._deliver = deliver
        return self

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._maintain_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError, StoreUnavailable):
            await self._send()  # the leaves of peers closed by the shutdown

    # --- PresenceBus -----------------------------------------------------------------------

    def publish(self, partition: Partition, message: Outbound) -> None:
        self._deliver(partition, message)
        if isinstance(message, CursorBatch):
            self._relay(partition, {"n": self.node_id, "c": message.items})
            return
        event = presence_event(message)
        if event is not None:
            self._track_local(partition, event)
        self._relay(partition, {"n": self.node_id, "f": message.text, "o": message.origin})

    def remote_peers(self, partition: Partition) -> list[PeerInfo]:
        return list(self._remote.get(partition, {}).values())

    # --- this node's peers -----------------------------------------------------------------

    def _track_local(self, partition: Partition, event: dict[str, Any]) -> None:
        local = self._local.get(partition)
        if event["type"] == "presence.join":
            if local is None:
                local = self._local[partition] = {}
                self._remote[partition] = {}
                self.link.add(channel_of(partition), lambda data: self._on_message(partition, data))
            peer = event["peer"]
            local[peer["peer_id"]] = peer
            self._enqueue(self._put(partition, peer))
        elif local is None:
            return
        elif event["type"] == "presence.update" and event["peer_id"] in local:
            peer = {**local[event["peer_id"]], "state": event["state"]}
            local[event["peer_id"]] = peer
            self._enqueue(self._put(partition, peer))
        elif event["type"] == "presence.leave" and local.pop(event["peer_id"], None) is not None:
            self._enqueue(("hdel", peers_key(partition), event["peer_id"], ""))
            if not local:
                del self._local[partition]
                self._remote.pop(partition, None)
                self.link.remove(channel_of(partition))

    def _put(self, partition: Partition, peer: dict[str, Any]) -> Op:
        record = dumps({"node": self.node_id, "peer": peer, "exp": time.time() + self.ttl_s})
        return ("hset", peers_key(partition), peer["peer_id"], record)

    # --- the other nodes' peers ------------------------------------------------------------

    def _on_message(self, partition: Partition, data: str | None) -> None:
        if data is None:  # (re)subscribed: what was relayed meanwhile is lost, read the hash
            self._reconcile_due.add(partition)
            self._reconcile_wake.set()
            return
        message = json.loads(data)
        if "s" in message:  # a reconcile's marker: only its sender waits for it
            synced = self._syncs.get(message["s"]) if message["n"] == self.node_id else None
            if synced is not None and not synced.done():
                synced.set_result(None)
            return
        view = self._remote.get(partition)
        if message["n"] == self.node_id or view is None:
            return
        if "c" in message:
            self._deliver(partition, CursorBatch(message["c"]))
            return
        frame = Frame(message["f"], message["o"], "lossy")  # a gesture, unless it is a presence event
        event = presence_event(frame)
        if event is not None:
            if not self._track_remote(partition, view, event):
                return  # already known from the hash
            frame = remote_frame(frame.text, event)
        self._deliver(partition, frame)

    def _track_remote(self, partition: Partition, view: dict[str, PeerInfo], event: dict[str, Any]) -> bool:
        """Apply a relayed join/leave/update to the view; False when it changes nothing."""
        touched = self._touched.get(partition)
        if touched is not None:
            touched.add(event["peer"]["peer_id"] if event["type"] == "presence.join" else event["peer_id"])
        if event["type"] == "presence.join":
            info = PeerInfo.model_validate(event["peer"])
            known = view.get(info.peer_id)
            view[info.peer_id] = info
            return known is None
        if event["type"] == "presence.leave":
            return view.pop(event["peer_id"], None) is not None
        known = view.get(event["peer_id"])
        if known is not None:
            view[event["peer_id"]] = known.model_copy(update={"state": event["state"]})
        return True

    async def _reconcile(self, partition: Partition) -> None:
        """Make the view equal the live records of other nodes; delete and announce expired ones.

        The hash can be ahead of this node's subscription: a leave's ``hdel`` lands before this node has
        read the messages relayed ahead of it. So the read is applied only once a marker relayed after it
        comes back through the channel (everything relayed before the read has been applied by then),
        and a peer with relayed news since the read keeps what that news said."""
        touched = self._touched[partition] = set()
        token = uuid.uuid4().hex
        synced = self._syncs[token] = asyncio.get_running_loop().create_future()
        try:
            raw_records = await self.store.client.hgetall(peers_key(partition))
            records = {str(peer_id): str(raw) for peer_id, raw in raw_records.items()}
            self._relay(partition, {"n": self.node_id, "s": token})
            await asyncio.wait_for(synced, max(self.period, 1.0))
        except TimeoutError:
            return  # no subscription (it resubscribes, and asks for a reconcile then) or no peers here
        finally:
            del self._touched[partition]
            del self._syncs[token]
        view = self._remote.get(partition)
        if view is None:
            return
        now, alive = time.time(), {}
        for peer_id, raw in records.items():
            record = json.loads(raw)
            if record["node"] == self.node_id:
                continue
            if record["exp"] >= now:
                alive[peer_id] = PeerInfo.model_validate(record["peer"])
            elif await self.store.client.hdel(peers_key(partition), peer_id) == 1:
                leave = WsPresenceLeave(peer_id=peer_id).model_dump_json()
                self._relay(partition, {"n": self.node_id, "f": leave, "o": None})
        for peer_id in [p for p in view if p not in alive and p not in touched]:
            del view[peer_id]
            self._deliver(partition, Frame(WsPresenceLeave(peer_id=peer_id).model_dump_json(), peer_id, "leave"))
        for peer_id, info in alive.items():
            if peer_id not in view and peer_id not in touched:
                view[peer_id] = info
                self._deliver(partition, Frame(WsPresenceJoin(peer=info).model_dump_json()))

    # --- background work -------------------------------------------------------------------

    def _relay(self, partition: Partition, message: dict[str, Any]) -> None:
        self._enqueue(("spublish", channel_of(partition), dumps(message), ""))

    def _enqueue(self, op: Op) -> None:
        if len(self._outbox) >= MAX_OUTBOX:
            return  # Redis is slow or away: presence is ephemeral, drop rather than grow
        self._outbox.append(op)
        self._send_wake.set()

    async def _send(self) -> None:
        """Everything queued, in order, in one pipeline: one publisher's messages keep their order."""
        batch, self._outbox = self._outbox, []
        if not batch:
            return
        async with self.store.client.pipeline(transaction=False) as pipe:
            for verb, target, field, value in batch:
                if verb == "spublish":
                    pipe.spublish(target, field)
                elif verb == "hset":
                    pipe.hset(target, field, value)
                    pipe.pexpire(target, int(self.ttl_s * 2000))
                else:
                    pipe.hdel(target, field)
            await pipe.execute()

    async def _send_loop(self) -> None:
        while True:
            _honour_cancel()
            await self._send_wake.wait()
            self._send_wake.clear()
            try:
                await self._send()
            except (RedisError, OSError, StoreUnavailable) as exc:
                log.info("presence relay dropped a batch: %s", exc)

    async def _maintain_loop(self) -> None:
        """Refresh this node's records and reconcile every period; reconcile resubscribed partitions now."""
        loop = asyncio.get_running_loop()
        next_round = loop.time()
        while True:
            _honour_cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconcile_wake.wait(), max(0.0, next_round - loop.time()))
            self._reconcile_wake.clear()
            due, self._reconcile_due = self._reconcile_due, set()
            if loop.time() >= next_round:
                next_round = loop.time() + self.period
                for partition, peers in self._local.items():
                    for peer in peers.values():
                        self._enqueue(self._put(partition, peer))
                due = set(self._local)
            for partition in due:
                try:
                    await self._reconcile(partition)
                except (RedisError, OSError, StoreUnavailable) as exc:
                    log.info("presence reconcile of %s failed: %s", partition, exc)


def _honour_cancel() -> None:
    """redis-py (8.1) can swallow a cancellation inside a pipeline; a loop that went on would hang ``stop``."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
