"""Presence rooms of this process: who is on which ``(tenant, stream)``, cursor coalescing, no ghosts.

A room never persists anything and never spans tenants. Everything a room sends goes out through a
``PresenceBus``; ``LocalBus`` just hands it back to this process's rooms, and a cross-node bus (Redis)
can relay the same ``Outbound`` messages to other nodes, whose rooms deliver them to their own peers.
One ticker task runs while some room has unsent cursor or state changes; one sweeper task runs while
some room has peers and removes the silent ones.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from atoms_core.engine.outbox import Outbox
from atoms_core.protocol.codes import CloseCode
from atoms_core.protocol.contracts import Peer as PeerInfo
from atoms_core.protocol.contracts import (
    WsCursorPosition,
    WsPeerUpdate,
    WsPresenceJoin,
    WsPresenceLeave,
    WsPresenceSnapshot,
)
from atoms_core.protocol.timeline import Partition

#: ``WsPeerCursors`` is assembled from items encoded once per flush (see ``Room.deliver``).
CURSORS_HEAD = '{"type":"cursors","cursors":['
CURSORS_TAIL = "]}"


#: How a receiver's outbox takes a frame: ``keep`` queues it (overflow closes the receiver), ``latest``
#: keeps only the newest unwritten one of its origin (``presence.update``), ``lossy`` skips it while the
#: outbox is half full (gestures), so a burst of states or gestures never closes a reader that keeps up;
#: ``leave`` is kept, and drops the unwritten state of its origin (the peer that left).
Delivery = Literal["keep", "latest", "lossy", "leave"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One encoded server message for every peer of a room except ``origin``."""

    text: str
    origin: str | None = None
    delivery: Delivery = "keep"


@dataclass(frozen=True, slots=True)
class CursorBatch:
    """The latest cursor of each peer that moved since the last flush: peer id -> encoded position."""

    items: dict[str, str]


Outbound = Frame | CursorBatch
Deliver = Callable[[Partition, Outbound], None]


class PresenceBus(Protocol):
    """Carries a room's outbound messages to every peer of that partition, on any node.

    Every implementation must: deliver to this process's peers before ``publish`` returns (so a
    peer's own messages keep their order), keep per-publisher order, deliver at most once, and never
    hand a message to another partition.
    """

    def publish(self, partition: Partition, message: Outbound) -> None: ...

    def remote_peers(self, partition: Partition) -> list[PeerInfo]:
        """The partition's peers on other nodes, for ``presence.snapshot``."""
        ...


class LocalBus:
    """The single-node bus: hands every message straight to this process's room."""

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish(self, partition: Partition, message: Outbound) -> None:
        self._deliver(partition, message)

    def remote_peers(self, partition: Partition) -> list[PeerInfo]:
        return []


class _StateSlot:
    """A place in an outbox holding the latest unwritten presence state of one peer (None: it left)."""

    __slots__ = ("peer_id", "text")

    def __init__(self, peer_id: str, text: str) -> None:
        self.peer_id = peer_id
        self.text: str | None = text


class Peer(Outbox[str | _StateSlot]):
    """One connection of this process: who it is, its presence state, and the outbox of encoded frames
    that the connection's writer drains one at a time.

    The outbox is fair to a reader that keeps up: a peer's newer presence state replaces its older one
    in place (keeping its turn) and its leave drops it, so pending states are at most one per peer in
    the room, whatever the number of updates; gestures are skipped while the other frames fill half of
    ``limit_bytes``. Only the frames that must arrive (joins, leaves, cursors, replies) can overflow
    ``limit_bytes``, which closes the peer (1013 ``slow_consumer``). An outbox with no other frame takes
    any one frame, so a large ``presence.snapshot`` never counts as slowness."""

    __slots__ = ("_states", "close_code", "close_reason", "last_seen", "partition", "peer_id", "principal_id",
                 "state")

    LONE_FRAME_FITS = True
    _queue: deque[str | _StateSlot]

    def __init__(self, peer_id: str, principal_id: str, limit_bytes: int, now: float) -> None:
        super().__init__(limit_bytes, deque())  # counts the queued frames that are not states
        self.peer_id = peer_id
        self.principal_id = principal_id
        self.state: dict[str, Any] = {}
        self.last_seen = now
        self.partition: Partition | None = None  # set while in a room
        self.close_code: CloseCode | None = None
        self.close_reason = ""
        self._states: dict[str, _StateSlot] = {}  # origin peer id -> its slot in the queue

    def info(self) -> PeerInfo:
        return PeerInfo(peer_id=self.peer_id, principal_id=self.principal_id, state=self.state)

    def push(self, text: str) -> bool:
        """Queue a frame; False when this frame overflowed the outbox (the peer is now closed)."""
        return self.closed or self._enqueue(text, len(text))

    def push_lossy(self, text: str) -> None:
        """Queue a frame this peer may miss (a gesture): skipped while the outbox holds half of its bound,
        unless it is empty."""
        if not (self.closed or (self._size and self._size + len(text) > self._limit // 2)):
            self._enqueue(text, len(text))

    def push_state(self, origin: str, text: str) -> None:
        """Queue ``origin``'s ``presence.update``, replacing the one of it still waiting to be written."""
        if self.closed:
            return
        slot = self._states.get(origin)
        if slot is not None:
            slot.text = text
            return
        slot = self._states[origin] = _StateSlot(origin, text)
        self._queue.append(slot)  # not counted: at most one per peer of the room
        self._wake()

    def forget_state(self, origin: str) -> None:
        """``origin`` left: its unwritten state is not worth sending."""
        slot = self._states.pop(origin, None)
        if slot is not None:
            slot.text = None

    def take(self) -> str | None:
        """The next frame to write, or None when the outbox is empty."""
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, str):
                self._size -= len(item)
                return item
            if item.text is not None:
                del self._states[item.peer_id]
                return item.text
        return None

    def _overflow(self) -> None:
        self._states.clear()
        self.close(CloseCode.TRY_LATER, "slow_consumer")
        super()._overflow()

    def close(self, code: CloseCode, reason: str) -> None:
        """Ask the connection to close with ``code`` once the frames queued so far are written."""
        if not self.closed:
            self.close_code, self.close_reason = code, reason
            self._shut()


class Room:
    """The peers of one partition on this process, and their changes not yet flushed."""

    def __init__(self, partition: Partition, bus: PresenceBus) -> None:
        self.partition = partition
        self.bus = bus
        self.peers: dict[str, Peer] = {}
        self._cursors: dict[str, tuple[float, float]] = {}
        self._states: set[str] = set()

    def snapshot(self, peer: Peer) -> str:
        others = [p.info() for p in self.peers.values() if p is not peer] + self.bus.remote_peers(self.partition)
        return WsPresenceSnapshot(self=peer.peer_id, peers=others).model_dump_json()

    def add(self, peer: Peer) -> None:
        self.peers[peer.peer_id] = peer
        join = WsPresenceJoin(peer=peer.info()).model_dump_json()
        self.bus.publish(self.partition, Frame(join, peer.peer_id))

    def remove(self, peer: Peer) -> None:
        del self.peers[peer.peer_id]
        self._cursors.pop(peer.peer_id, None)
        self._states.discard(peer.peer_id)
        leave = WsPresenceLeave(peer_id=peer.peer_id).model_dump_json()
        self.bus.publish(self.partition, Frame(leave, peer.peer_id, "leave"))

    def mark_cursor(self, peer: Peer, x: float, y: float) -> None:
        self._cursors[peer.peer_id] = (x, y)

    def mark_state(self, peer: Peer) -> None:
        self._states.add(peer.peer_id)

    def flush(self) -> None:
        """Publish each changed state and one batch of the latest cursors: O(changed peers) encodings."""
        states, self._states = self._states, set()
        cursors, self._cursors = self._cursors, {}
        for peer_id in states:
            peer = self.peers.get(peer_id)
            if peer is not None:
                update = WsPeerUpdate(peer_id=peer_id, state=peer.state).model_dump_json()
                self.bus.publish(self.partition, Frame(update, peer_id, "latest"))
        if cursors:
            items = {peer_id: WsCursorPosition(peer_id=peer_id, x=x, y=y).model_dump_json()
                     for peer_id, (x, y) in cursors.items()}
            self.bus.publish(self.partition, CursorBatch(items))

    def deliver(self, message: Outbound) -> list[Peer]:
        """Queue ``message`` for this room's peers; return the peers whose outbox overflowed."""
        overflowed: list[Peer] = []
        if isinstance(message, Frame):
            origin, text = message.origin, message.text
            if message.delivery == "latest" and origin is not None:
                for peer in self.peers.values():
                    if peer.peer_id != origin:
                        peer.push_state(origin, text)
                return overflowed
            if message.delivery == "lossy":
                for peer in self.peers.values():
                    if peer.peer_id != origin:
                        peer.push_lossy(text)
                return overflowed
            if message.delivery == "leave" and origin is not None:
                for peer in self.peers.values():
                    peer.forget_state(origin)
            for peer in self.peers.values():
                if peer.peer_id != origin and not peer.push(text):
                    overflowed.append(peer)
            return overflowed
        items = message.items
        everyone = CURSORS_HEAD + ",".join(items.values()) + CURSORS_TAIL
        for peer in self.peers.values():
            text = everyone
            if peer.peer_id in items:  # a peer is never sent its own cursor
                others = [item for peer_id, item in items.items() if peer_id != peer.peer_id]
                if not others:
                    continue
                text = CURSORS_HEAD + ",".join(others) + CURSORS_TAIL
            if not peer.push(text):
                overflowed.append(peer)
        return overflowed


class Presence:
    """This process's rooms, keyed by ``Partition(tenant_id, stream_id)``."""

    def __init__(self, cursor_hz: float, idle_timeout_s: float, max_peers: int,
                 bus_factory: Callable[[Deliver], PresenceBus] = LocalBus) -> None:
        self.period = 1.0 / cursor_hz
        self.idle_timeout_s = idle_timeout_s
        self.sweep_every = min(max(idle_timeout_s / 4, 0.05), 1.0)
        self.max_peers = max_peers
        self.bus = bus_factory(self.deliver_local)
        self._rooms: dict[Partition, Room] = {}
        self._dirty: set[Room] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def join(self, partition: Partition, peer: Peer) -> bool:
        """Enter the room: the peer gets ``presence.snapshot`` first, the others ``presence.join``.
        False (nothing sent) when the room is full."""
        room = self._rooms.get(partition)
        if room is None:
            room = self._rooms[partition] = Room(partition, self.bus)
        if len(room.peers) >= self.max_peers:
            return False
        peer.partition = partition
        peer.push(room.snapshot(peer))
        room.add(peer)
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep())
        return True

    def leave(self, peer: Peer) -> None:
        """Leave the room (idempotent); the others get ``presence.leave``."""
        partition, peer.partition = peer.partition, None
        room = self._rooms.get(partition) if partition is not None else None
        if room is None or room.peers.get(peer.peer_id) is not peer:
            return
        room.remove(peer)
        if not room.peers:
            del self._rooms[room.partition]
            self._dirty.discard(room)

    def update(self, peer: Peer, state: dict[str, Any]) -> None:
        peer.state = state
        room = self._room_of(peer)
        if room is not None:
            room.mark_state(peer)
            self._mark(room)

    def cursor(self, peer: Peer, x: float, y: float) -> None:
        room = self._room_of(peer)
        if room is not None:
            room.mark_cursor(peer, x, y)
            self._mark(room)

    def relay(self, peer: Peer, text: str) -> None:
        """Send an encoded gesture from ``peer`` to the other peers now; a busy receiver may skip it."""
        if peer.partition is not None:
            self.bus.publish(peer.partition, Frame(text, peer.peer_id, "lossy"))

    def deliver_local(self, partition: Partition, message: Outbound) -> None:
        room = self._rooms.get(partition)
        if room is not None:
            for peer in room.deliver(message):
                self.leave(peer)

    def _room_of(self, peer: Peer) -> Room | None:
        return self._rooms.get(peer.partition) if peer.partition is not None else None

    def _mark(self, room: Room) -> None:
        self._dirty.add(room)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        """Flush dirty rooms, flushes starting at least one period apart; ends when a period passes with
        nothing to send. A peer's cursor therefore reaches the others at most ``cursor_hz`` times a second."""
        loop = asyncio.get_running_loop()
        try:
            while self._dirty:
                started = loop.time()
                rooms, self._dirty = self._dirty, set()
                for room in rooms:
                    room.flush()
                await asyncio.sleep(max(0.0, started + self.period - loop.time()))
        finally:
            self._ticker = None

    async def _sweep(self) -> None:
        """Remove peers that sent nothing for ``idle_timeout_s`` (half-open TCP, frozen tabs)."""
        loop = asyncio.get_running_loop()
        try:
            while self._rooms:
                await asyncio.sleep(self.sweep_every)
                deadline = loop.time() - self.idle_timeout_s
                peers = [p for room in self._rooms.values() for p in room.peers.values()]
                for peer in [p for p in peers if p.last_seen < deadline]:
                    self.leave(peer)
                    peer.close(CloseCode.GOING_AWAY, "idle_timeout")
        finally:
            self._sweeper = None
