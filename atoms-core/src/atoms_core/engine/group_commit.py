"""Group commit: the commands of one partition queue up while a commit is in flight, then go as one.

A group is decided together (``decide.py``) and committed in one store transaction, optimistically:
another writer's append (``HeadMoved``) means catch up and decide again; a command id the store has
seen (``CommandSeen``) means look its first result up and decide again. After the commit the new
events are encoded once and published to the local hub for that partition only, then the replies go.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from atoms_core.engine.cache import PartitionCache, PartitionLog, Request
from atoms_core.engine.decide import Decider
from atoms_core.engine.snapshots import Compaction
from atoms_core.protocol.contracts import CommandEnvelope, CommandResult
from atoms_core.protocol.errors import AtomsError, Unavailable
from atoms_core.protocol.timeline import CommandSeen, HeadMoved, Partition, StoreUnavailable, page_bytes

log = logging.getLogger("atoms.partitions")

MAX_HEAD_RETRIES = 16


class CommandObserver(Protocol):
    def accepted(self, partition: Partition, actor: str, command: CommandEnvelope, seq: int) -> None: ...

    def refused(self, partition: Partition, actor: str, command: CommandEnvelope | None,
                error: AtomsError) -> None: ...

    def committed(self) -> None: ...  # a group's outcomes are observed; its replies go out next


class GroupCommit:
    def __init__(self, cache: PartitionCache, decider: Decider, compaction: Compaction,
                 observer: CommandObserver) -> None:
        self.cache = cache  # owns the store and the hub this commits to and publishes on
        self.decider = decider
        self.compaction = compaction
        self.observer = observer
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, partition: Partition, actor: str, commands: list[CommandEnvelope]) -> list[CommandResult]:
        plog = await self.cache.get(partition)
        future: asyncio.Future[list[CommandResult]] = asyncio.get_running_loop().create_future()
        plog.pending.append(Request(commands, actor, future))
        if not plog.flushing:
            # No commit in flight: the caller's own task leads the next group (no flush task and no
            # hand-off between tasks on the way to its reply). It lets the loop go round once first,
            # so requests arriving in the same pass join the group; what queues later goes to a task.
            plog.flushing = True
            try:
                await asyncio.sleep(0)
                await self._commit_next(plog)
            finally:
                if plog.pending:
                    task = asyncio.create_task(self._flush(plog))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                else:
                    plog.flushing = False
        return await future

    async def _flush(self, plog: PartitionLog) -> None:
        try:
            while plog.pending:
                await self._commit_next(plog)
        finally:
            plog.flushing = False

    async def _commit_next(self, plog: PartitionLog) -> None:
        """Commit everything pending as one group; each request gets its reply or error."""
        group, plog.pending = plog.pending, []
        try:
            async with plog.lock:
                await self._commit(plog, group)
        except asyncio.CancelledError:
            # The caller leading this group was cancelled mid-commit (shutdown): the flush task takes
            # over what is unanswered; a command already appended is found by its id, not repeated.
            plog.pending[:0] = [request for request in group if not request.future.done()]
            raise
        except Exception as exc:
            error: Exception = exc  # a bug: each request answers 500
            if isinstance(exc, StoreUnavailable | AtomsError):
                error = Unavailable("store_unavailable", "the timeline store is unreachable; retry")
            else:
                log.exception("commit failed for %s", plog.partition)
            for request in group:
                if not request.future.done():
                    request.future.set_exception(error)
        self.compaction.schedule(plog)

    async def _commit(self, plog: PartitionLog, group: list[Request]) -> None:
        """Decide optimistically, as if every command were new; look stored results up only when
        the store says a command was seen before, or before refusing one (it may be a retry of a
        command that already succeeded, which gets its first result, not an error)."""
        known: dict[str, str] | None = None
        for _ in range(MAX_HEAD_RETRIES):
            outcome = await self.decider.decide_group(plog, group, known or {})
            if known is None and any(isinstance(reply, AtomsError) for reply in outcome.replies):
                known = await self._lookup(plog, group)
                if known:  # retries of committed commands: decide again, giving them their first results
                    continue
            if outcome.blobs:  # a snapshot_created event never names a missing artifact
                await self.compaction.store_artifacts(plog.partition, outcome.blobs)
            try:
                if outcome.events or outcome.results:
                    await self.cache.store.append(plog.partition, plog.state.seq, outcome.events, outcome.results)
            except HeadMoved:
                await self.cache.catch_up_locked(plog)
                known = None  # another writer may have committed one of these commands meanwhile
                continue
            except CommandSeen:
                known = await self._lookup(plog, group)
                continue
            break
        else:
            raise StoreUnavailable("too much write contention on one partition")
        self.cache.set_state(plog, outcome.state)
        plog.unsnapshotted += page_bytes(outcome.events)
        if self.cache.hub.publish_events(plog.partition, outcome.events):
            # Let the woken SSE writers run before the 202s go out: an ack then means "handed
            # to this node's readers' sockets", and a fast publisher cannot outrun the fan-out.
            await asyncio.sleep(0)
        if outcome.snapshots:
            await self.compaction.save(plog, outcome.snapshots)
        for request, reply in zip(group, outcome.replies, strict=True):
            if isinstance(reply, AtomsError):
                self.observer.refused(plog.partition, request.actor, request.commands[0], reply)
                request.future.set_exception(reply)
            else:
                for command, result in zip(request.commands, reply, strict=True):
                    if not result.duplicate:
                        self.observer.accepted(plog.partition, request.actor, command, result.seq)
                request.future.set_result(reply)
        self.observer.committed()  # before any 202 is written: the waiters run on the next loop pass
        if outcome.snapshots:
            await self.compaction.prune(plog)
        if self.cache.cached_bytes > self.cache.cache_bytes:
            self.cache.evict()

    async def _lookup(self, plog: PartitionLog, group: list[Request]) -> dict[str, str]:
        return await self.cache.store.lookup(plog.partition, [c.command_id for r in group for c in r.commands])

    async def drain(self) -> None:
        """Wait for in-flight commits (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
