"""A WebSocket peer's outbox (``presence.Peer``), the pure part of fair fan-out: what a burst leaves
queued for one receiver, and in which order its writer sends it."""

from __future__ import annotations

from atoms_core.engine.presence import Peer


def drain(peer: Peer) -> list[str]:
    frames = []
    while (text := peer.take()) is not None:
        frames.append(text)
    return frames


def receiver(limit: int = 4096) -> Peer:
    return Peer("me", "alice", limit, 0.0)


def test_a_burst_of_states_leaves_one_per_peer_in_first_come_order_and_never_overflows() -> None:
    peer = receiver(limit=4096)
    for round_ in range(100):  # 100 x 50 peers x 1 kB: far beyond the 4 kB bound
        for origin in range(50):
            peer.push_state(f"p{origin}", f"p{origin}:{round_}:" + "x" * 1000)
    assert not peer.closed
    frames = drain(peer)
    assert [f.split(":")[:2] for f in frames] == [[f"p{i}", "99"] for i in range(50)]


def test_a_newer_state_keeps_the_turn_of_the_older_one() -> None:
    peer = receiver()
    peer.push_state("a", "a1")
    peer.push("join b")
    peer.push_state("b", "b1")
    peer.push_state("a", "a2")
    assert drain(peer) == ["a2", "join b", "b1"]
    peer.push_state("a", "a3")  # after it was written, a new state queues again
    assert drain(peer) == ["a3"]


def test_a_leave_drops_the_unwritten_state_of_the_peer_that_left() -> None:
    peer = receiver()
    peer.push_state("a", "a1")
    peer.push_state("b", "b1")
    peer.forget_state("a")
    peer.push("leave a")
    assert drain(peer) == ["b1", "leave a"]


def test_gestures_are_skipped_once_half_the_bound_is_queued_and_other_frames_still_fit() -> None:
    peer = receiver(limit=4096)
    for i in range(10):
        peer.push_lossy(f"g{i}:" + "x" * 700)  # two fit under 2048 bytes
    assert peer.push("cursors " + "y" * 2000), "the other half is left to frames that must arrive"
    assert [f.split(":")[0] for f in drain(peer)] == ["g0", "g1", "cursors " + "y" * 2000]
    peer.push_lossy("big:" + "z" * 5000)  # an empty outbox takes any one frame
    assert drain(peer) == ["big:" + "z" * 5000]


def test_frames_that_must_arrive_still_overflow_a_reader_that_does_not_drain() -> None:
    peer = receiver(limit=4096)
    assert all(peer.push("c" * 1000) for _ in range(4))
    peer.push_state("a", "a1")
    assert not peer.push("c" * 1000)
    assert (peer.close_code, peer.close_reason) == (1013, "slow_consumer")
    assert drain(peer) == []
