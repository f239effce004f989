"""SqliteStore: the embedded default — one WAL database file in the data dir.

Calls run on the event loop: with WAL and ``synchronous=NORMAL`` a commit takes well under 100 µs
of CPU and survives a process crash (SIGKILL); ``FULL`` also survives power loss at the cost of an fsync per
group commit. One process owns the file (the in-memory partition cache relies on it): it holds
an exclusive lock from ``open`` to ``close``, so a second server on the same data dir fails to start.

A commit writes only what it must: the events rows and the idempotency rows. The head is the last
event's seq (cached in memory while the lock is held); ``heads`` records it at each prune, for the
partitions whose events were all pruned.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from atoms_core.realtime.timeline import (
    CommandSeen,
    HeadMoved,
    Partition,
    StoredEvent,
    StoredSnapshot,
    StoreUnavailable,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS heads (
  tenant TEXT NOT NULL, stream TEXT NOT NULL, head INTEGER NOT NULL,
  PRIMARY KEY (tenant, stream)) WITHOUT ROWID;  -- the head at the last prune
CREATE TABLE IF NOT EXISTS events (
  tenant TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (tenant, stream, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (
  tenant TEXT NOT NULL, stream TEXT NOT NULL, command_id TEXT NOT NULL, result TEXT NOT NULL,
  PRIMARY KEY (tenant, stream, command_id)) WITHOUT ROWID;
-- A rowid table: a lookup walks the small (tenant, stream) index and integer keys, and reads only its
-- own row's overflow pages. (In a WITHOUT ROWID table every key comparison on the way to another
-- partition loaded a big neighbour's whole state.)
CREATE TABLE IF NOT EXISTS snapshot_states (
  id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL,
  UNIQUE (tenant, stream));
"""
#: Data dirs written before ``snapshot_states`` keep their snapshots in this table: moved at open.
MIGRATE_SNAPSHOTS = """
INSERT INTO snapshot_states (tenant, stream, seq, state) SELECT tenant, stream, seq, state FROM snapshots;
DROP TABLE snapshots;
"""

#: The head: the last event's seq, or the one recorded when pruning emptied the partition.
HEAD = """
SELECT max(coalesce((SELECT max(seq) FROM events WHERE tenant=?1 AND stream=?2), 0),
           coalesce((SELECT head FROM heads WHERE tenant=?1 AND stream=?2), 0))"""
INSERT_EVENT = "INSERT INTO events (tenant, stream, seq, type, body) VALUES (?,?,?,?,?)"
INSERT_RESULT = "INSERT INTO commands (tenant, stream, command_id, result) VALUES (?,?,?,?)"
#: Heads of recently written partitions, kept in memory: exact, because this process holds the
#: file's exclusive lock, so no other writer can move them.
HEAD_CACHE_SIZE = 65536


class _SeqTaken(Exception):
    """An event's seq is already stored: the cached head was stale."""


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a file of an older schema up to date (inside the caller's transaction)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='snapshots'").fetchone():
        for statement in MIGRATE_SNAPSHOTS.strip().split(";\n"):
            db.execute(statement)


class SqliteStore:
    def __init__(self, path: Path, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._db: sqlite3.Connection | None = None
        self._heads: dict[Partition, int] = {}

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreUnavailable("store is not open")
        return self._db

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout=1000")
            # The server owns the file: holding the lock for its lifetime spares a lock/unlock and
            # the shared-memory WAL index per transaction, and a second server fails to start.
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            # Fewer, larger checkpoints (each one syncs the database) and a 64 MiB page cache.
            db.execute("PRAGMA wal_autocheckpoint=10000")
            db.execute("PRAGMA cache_size=-65536")
            db.executescript(SCHEMA)
            db.execute("BEGIN IMMEDIATE")  # takes the exclusive lock now, held until close
            _migrate(db)
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            db.close()
            raise StoreUnavailable(f"{self.path} is in use by another process ({exc})") from exc
        self._db = db

    async def close(self) -> None:
        self._heads.clear()  # the lock goes with the connection
        if self._db is not None:
            self._db.close()
            self._db = None

    async def ping(self) -> bool:
        try:
            self.db.execute("SELECT 1").fetchone()
            return True
        except (sqlite3.Error, StoreUnavailable):
            return False

    def _head(self, p: Partition) -> int:
        head = self._heads.get(p)
        if head is None:
            head = int(self.db.execute(HEAD, p).fetchone()[0])
            if len(self._heads) >= HEAD_CACHE_SIZE:
                del self._heads[next(iter(self._heads))]
            self._heads[p] = head
        return head

    async def append(self, partition: Partition, expected_head: int, events: list[StoredEvent],
                     results: dict[str, str]) -> None:
        head = self._head(partition)
        if head != expected_head or (events and events[0].seq != head + 1):
            raise HeadMoved(head)
        try:
            self._write(partition, events, results)
        except _SeqTaken:  # the cached head was wrong: not expected under the lock, but recoverable
            self._heads.pop(partition, None)
            raise HeadMoved(self._head(partition)) from None
        except sqlite3.Error as exc:
            self._heads.pop(partition, None)
            raise StoreUnavailable(str(exc)) from exc
        if events:
            self._heads[partition] = events[-1].seq

    def _write(self, partition: Partition, events: list[StoredEvent], results: dict[str, str]) -> None:
        """One transaction: the events, then the idempotency rows (a stored command id: CommandSeen)."""
        tenant, stream = partition
        with self._transaction() as db:
            try:
                db.executemany(INSERT_EVENT, [(tenant, stream, e.seq, e.type, e.body) for e in events])
            except sqlite3.IntegrityError:
                raise _SeqTaken() from None
            try:
                db.executemany(INSERT_RESULT, [(tenant, stream, cid, result) for cid, result in results.items()])
            except sqlite3.IntegrityError:
                raise CommandSeen() from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; any failure, the COMMIT's included, rolls back."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    async def read(self, partition: Partition, after: int, limit: int) -> list[StoredEvent]:
        rows = self.db.execute(
            "SELECT seq, type, body FROM events WHERE tenant=? AND stream=? AND seq>? ORDER BY seq LIMIT ?",
            (*partition, after, limit),
        ).fetchall()
        return [StoredEvent(seq, kind, body) for seq, kind, body in rows]

    async def bounds(self, partition: Partition) -> tuple[int, int]:
        head = self._head(partition)
        row = self.db.execute(
            "SELECT MIN(seq) FROM events WHERE tenant=? AND stream=?", partition
        ).fetchone()
        return (int(row[0]) if row and row[0] is not None else head + 1), head

    async def lookup(self, partition: Partition, command_ids: list[str]) -> dict[str, str]:
        if not command_ids:
            return {}
        marks = ",".join("?" * len(command_ids))
        rows = self.db.execute(
            f"SELECT command_id, result FROM commands WHERE tenant=? AND stream=? AND command_id IN ({marks})",
            (*partition, *command_ids),
        ).fetchall()
        return dict(rows)

    async def save_snapshot(self, partition: Partition, snapshot: StoredSnapshot) -> None:
        self.db.execute(
            "INSERT INTO snapshot_states (tenant, stream, seq, state) VALUES (?,?,?,?) "
            "ON CONFLICT (tenant, stream) DO UPDATE SET seq=excluded.seq, state=excluded.state "
            "WHERE excluded.seq > snapshot_states.seq",
            (*partition, snapshot.seq, snapshot.state_json),
        )

    async def latest_snapshot(self, partition: Partition) -> StoredSnapshot | None:
        row = self.db.execute(
            "SELECT seq, state FROM snapshot_states WHERE tenant=? AND stream=?", partition
        ).fetchone()
        return StoredSnapshot(int(row[0]), row[1]) if row else None

    async def prune(self, partition: Partition, through_seq: int) -> None:
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO heads (tenant, stream, head) VALUES (?,?,?) "
                    "ON CONFLICT (tenant, stream) DO UPDATE SET head=excluded.head",
                    (*partition, self._head(partition)),
                )
                db.execute("DELETE FROM events WHERE tenant=? AND stream=? AND seq<=?", (*partition, through_seq))
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc
