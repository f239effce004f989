"""Deciding one group commit: the events, results and replies of a group of requests, in memory.

Each request's commands are all-or-nothing; a refused request does not affect the others of its
group. Nothing here touches the store: the group commit appends what the ``Outcome`` holds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from atoms_core.engine.cache import PartitionLog, Request
from atoms_core.engine.snapshots import capture
from atoms_core.protocol.artifacts import ArtifactRecord
from atoms_core.protocol.commands import decide
from atoms_core.protocol.contracts import CommandResult, CommandType
from atoms_core.protocol.encoding import dumps, now_iso
from atoms_core.protocol.errors import AtomsError
from atoms_core.protocol.patch import Limits
from atoms_core.protocol.state import StreamState, apply_event
from atoms_core.protocol.timeline import Partition, StoredEvent, StoredSnapshot
from atoms_core.protocol.wire import event_envelope

#: Deciding a group yields to the event loop between commands once it has held it this long, so
#: a large batch (or many requests in one group commit) cannot stall other partitions.
DECIDE_SLICE_S = 0.02


@dataclass(slots=True)
class Outcome:
    """The effect of deciding one group: events to append and per-request results or errors."""

    state: StreamState
    events: list[StoredEvent] = field(default_factory=list)
    results: dict[str, str] = field(default_factory=dict)
    replies: list[list[CommandResult] | AtomsError] = field(default_factory=list)
    snapshots: list[StoredSnapshot] = field(default_factory=list)
    #: Snapshot artifacts to store before the commit.
    blobs: list[tuple[ArtifactRecord, bytes]] = field(default_factory=list)


def new_result(command_id: str, seq: int, version: int, duplicate: bool = False) -> tuple[CommandResult, str]:
    """A result the decider made and its stored JSON, encoded from the same fields (no model dump)."""
    fields: dict[str, Any] = {"command_id": command_id, "seq": seq, "version": version, "event_ids": [str(seq)],
              "duplicate": duplicate}
    return CommandResult(**fields), dumps(fields)


def decode_result(raw: str) -> CommandResult:
    result = CommandResult.model_validate_json(raw)
    result.duplicate = True
    return result


class Decider:
    def __init__(self, limits: Limits) -> None:
        #: What a live command may produce (replay is never limited: committed events always apply).
        self.limits = limits

    async def decide_group(self, plog: PartitionLog, group: list[Request], known: dict[str, str]) -> Outcome:
        """Decide every request of ``group`` on ``plog``'s state; ``known`` holds stored results of
        command ids seen before (a retry gets its first result, not a second event)."""
        outcome = Outcome(plog.state)
        ts = now_iso()
        clock = [time.perf_counter()]
        for request in group:
            try:
                outcome.replies.append(await self._decide_request(plog.partition, outcome, request, known, ts,
                                                                  clock))
            except AtomsError as err:
                outcome.replies.append(err)
        return outcome

    async def _decide_request(self, partition: Partition, outcome: Outcome, request: Request,
                              known: dict[str, str], ts: str, clock: list[float]) -> list[CommandResult]:
        """All-or-nothing: work on locals, touch ``outcome`` only when every command passed. Yields
        to the loop between commands once ``clock`` (the slice start) is ``DECIDE_SLICE_S`` old; the
        partition's lock is held, so nothing else changes its state meanwhile."""
        state = outcome.state
        events: list[StoredEvent] = []
        results: dict[str, str] = {}
        snapshots: list[StoredSnapshot] = []
        blobs: list[tuple[ArtifactRecord, bytes]] = []
        replies: list[CommandResult] = []
        for command in request.commands:
            if time.perf_counter() - clock[0] > DECIDE_SLICE_S:
                await asyncio.sleep(0)
                clock[0] = time.perf_counter()
            cid = command.command_id
            earlier = known.get(cid) or outcome.results.get(cid) or results.get(cid)
            if earlier is not None:
                replies.append(decode_result(earlier))
                continue
            decision = decide(state, command, request.actor, ts)
            if decision.duplicate_of_seq is not None:
                result, results[cid] = new_result(cid, decision.duplicate_of_seq, state.version, duplicate=True)
                replies.append(result)
                continue
            seq = state.seq + 1
            data = decision.data
            if command.type is CommandType.SNAPSHOT_CREATE:
                data, snapshot, artifact = capture(state, seq)
                snapshots.append(snapshot)
                blobs.append(artifact)
            state = apply_event(state, seq, decision.event_type, data, self.limits, decision.blame)
            envelope = event_envelope(seq, partition.stream_id, decision.event_type, state.version, ts,
                                      request.actor, cid, data)
            events.append(StoredEvent(seq, decision.event_type, envelope))
            result, results[cid] = new_result(cid, seq, state.version)
            replies.append(result)
        outcome.state = state
        outcome.events.extend(events)
        outcome.results.update(results)
        outcome.snapshots.extend(snapshots)
        outcome.blobs.extend(blobs)
        return replies
