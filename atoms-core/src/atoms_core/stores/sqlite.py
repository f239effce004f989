"""SqliteStore: the embedded default — one WAL database file in the data dir.

Calls run on the event loop: with WAL and ``synchronous=NORMAL`` a commit takes well under 100 µs
of CPU and survives a process crash (SIGKILL); ``FULL`` also survives power loss at the cost of an fsync per
group commit. One process owns the file (the in-memory partition cache relies on it): it holds
an exclusive lock from ``open`` to ``close``, so a second server on the same data dir fails to start.

A commit writes only what it must: the events rows (and, for a long body, an ``event_bodies`` row) and
the idempotency rows. The head is the last event's seq (cached in memory while the lock is held);
``heads`` records it at each prune, for the partitions whose events were all pruned.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from atoms_core.protocol.timeline import (
    CommandSeen,
    HeadMoved,
    Partition,
    StoredEvent,
    StoredSnapshot,
    StoreRefused,
    StoreUnavailable,
    within,
)
from atoms_core.stores.marker import StoreMarker

log = logging.getLogger("atoms.sqlite")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);  -- store_id, probe
CREATE TABLE IF NOT EXISTS heads (
  tenant TEXT NOT NULL, stream TEXT NOT NULL, head INTEGER NOT NULL,
  PRIMARY KEY (tenant, stream)) WITHOUT ROWID;  -- the head at the last prune
CREATE TABLE IF NOT EXISTS events (
  tenant TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (tenant, stream, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (
  tenant TEXT NOT NULL, stream TEXT NOT NULL, command_id TEXT NOT NULL, result TEXT NOT NULL,
  PRIMARY KEY (tenant, stream, command_id)) WITHOUT ROWID;
-- Big values live in rowid tables: a lookup walks a small index and integer keys, and reads only
-- its own row's overflow pages. (In a WITHOUT ROWID table every key comparison on the way to another
-- partition loads a big neighbour's whole row.) An event whose body is longer than INLINE_BODY keeps
-- body '' in ``events`` and its body in ``event_bodies``.
CREATE TABLE IF NOT EXISTS event_bodies (
  id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
  UNIQUE (tenant, stream, seq));
CREATE TABLE IF NOT EXISTS snapshot_states (
  id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL,
  UNIQUE (tenant, stream));
"""
#: The longest event body kept in its ``events`` row: at most about one overflow page on 4 KiB pages.
INLINE_BODY = 1024
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
INSERT_BODY = "INSERT INTO event_bodies (tenant, stream, seq, body) VALUES (?,?,?,?)"
READ_BODIES = "SELECT seq, body FROM event_bodies WHERE tenant=? AND stream=? AND seq>? AND seq<=? ORDER BY seq"
INSERT_RESULT = "INSERT INTO commands (tenant, stream, command_id, result) VALUES (?,?,?,?)"
#: Heads of recently written partitions, kept in memory: exact, because this process holds the
#: file's exclusive lock, so no other writer can move them.
HEAD_CACHE_SIZE = 65536


class _LongBodies:
    """A page's long bodies (``event_bodies``), stepped through in seq order as the page needs them, so
    a read cut short by ``max_bytes`` never loads the bodies past its end."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.cursor = cursor
        self.row = cursor.fetchone()

    def body(self, seq: int) -> str:
        """The body of ``seq``; "" when it is lost (the reader then calls the event damaged)."""
        while self.row is not None and self.row[0] < seq:
            self.row = self.cursor.fetchone()
        if self.row is None or self.row[0] != seq:
            return ""
        body = str(self.row[1])
        self.row = self.cursor.fetchone()
        return body


class _SeqTaken(Exception):
    """An event's seq is already stored: the cached head was stale."""


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a file of an older schema up to date (inside the caller's transaction)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='snapshots'").fetchone():
        for statement in MIGRATE_SNAPSHOTS.strip().split(";\n"):
            db.execute(statement)


def _primary_code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


class SqliteStore:
    def __init__(self, path: Path, synchronous: str = "NORMAL", allow_empty: bool = False) -> None:
        self.path = path
        self.synchronous = synchronous
        self.allow_empty = allow_empty
        self.marker = StoreMarker(path.with_suffix(".id"))
        self._db: sqlite3.Connection | None = None
        self._heads: dict[Partition, int] = {}
        self._failing: str | None = None  # the last write error, until a write succeeds again
        self._corrupt: str | None = None  # a corrupt page was met: unready until an operator acts

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreUnavailable("store is not open")
        return self._db

    async def open(self) -> None:
        """Open (again: a no-op) and take the lock; refuse a file that is not the data dir's timeline."""
        if self._db is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._refuse_lost_file()
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
            store_id = self._identify(db)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.close()
            raise self._open_error(exc) from exc
        except BaseException:
            db.close()
            raise
        self.marker.write(store_id)
        self._db = db

    def _refuse_lost_file(self) -> None:
        """A data dir that held a timeline must not restart as an empty one without a word."""
        known = self.marker.read()
        if known is None or self.allow_empty or (self.path.exists() and self.path.stat().st_size > 0):
            return
        state = "empty (0 bytes)" if self.path.exists() else "missing"
        raise StoreRefused(f"{self.path} is {state}, but {self.marker.path} says this data dir holds timeline "
                           f"{known}: restore the file from a backup, or start once with --allow-empty-store to begin "
                           "an empty timeline")

    def _identify(self, db: sqlite3.Connection) -> str:
        """The file's store id (made at its first open), checked against the data dir's marker."""
        row = db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        if row is None:
            store_id = uuid.uuid4().hex
            db.execute("INSERT INTO meta (key, value) VALUES ('store_id', ?)", (store_id,))
            return store_id
        known = self.marker.read()
        if known is not None and known != row[0] and not self.allow_empty:
            raise StoreRefused(f"{self.path} holds timeline {row[0]}, but {self.marker.path} says this data dir "
                               f"holds {known}: put the right file back, or start once with --allow-empty-store "
                               "to adopt this one")
        return str(row[0])

    def _open_error(self, exc: sqlite3.Error) -> StoreUnavailable:
        code = _primary_code(exc)
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StoreUnavailable(f"{self.path} is in use by another process ({exc})")
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return StoreRefused(f"{self.path} is not a readable timeline database ({exc}): restore it from a "
                                "backup, or move it away and start once with --allow-empty-store")
        return StoreRefused(f"{self.path} cannot be opened ({exc})")

    async def close(self) -> None:
        self._heads.clear()  # the lock goes with the connection
        if self._db is not None:
            self._db.close()
            self._db = None

    async def ping(self) -> bool:
        """False while the file is corrupt or writes fail (a full disk); while they fail, a tiny write
        probes whether they work again."""
        if self._corrupt is not None or self._db is None:
            return False
        try:
            if self._failing is None:
                self.db.execute("SELECT 1").fetchone()
                return True
            with self._transaction() as db:
                db.execute("INSERT INTO meta (key, value) VALUES ('probe', ?) "
                           "ON CONFLICT (key) DO UPDATE SET value=excluded.value", (str(time.time()),))
        except sqlite3.Error as exc:
            self._fault(exc)
            return False
        self._failing = None
        return True

    def _fault(self, exc: sqlite3.Error) -> StoreUnavailable:
        """Remember a failing disk or a corrupt file for ``ping`` (readiness); the caller answers 503."""
        message = f"{self.path}: {exc}"
        if _primary_code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            if self._corrupt is None:
                log.error("timeline database is corrupt: %s", message)
            self._corrupt = message
        elif self._failing is None:
            log.error("timeline database write failed: %s", message)
        self._failing = message
        return StoreUnavailable(message)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """Any SQLite error of a call becomes ``StoreUnavailable`` (a 503) and is remembered."""
        try:
            yield self.db
        except sqlite3.Error as exc:
            raise self._fault(exc) from exc

    def _head(self, p: Partition) -> int:
        head = self._heads.get(p)
        if head is None:
            with self._guard() as db:
                head = int(db.execute(HEAD, p).fetchone()[0])
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
            raise self._fault(exc) from exc
        self._failing = None
        if events:
            self._heads[partition] = events[-1].seq

    def _write(self, partition: Partition, events: list[StoredEvent], results: dict[str, str]) -> None:
        """One transaction: the events, then the idempotency rows (a stored command id: CommandSeen)."""
        tenant, stream = partition
        with self._transaction() as db:
            try:
                db.executemany(INSERT_EVENT, [(tenant, stream, e.seq, e.type, e.body if len(e.body) <= INLINE_BODY
                                               else "") for e in events])
            except sqlite3.IntegrityError:
                raise _SeqTaken() from None
            big = [(tenant, stream, e.seq, e.body) for e in events if len(e.body) > INLINE_BODY]
            if big:
                db.executemany(INSERT_BODY, big)
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

    async def read(self, partition: Partition, after: int, limit: int,
                   max_bytes: int | None = None) -> list[StoredEvent]:
        with self._guard() as db:
            rows = db.execute(
                "SELECT seq, type, body FROM events WHERE tenant=? AND stream=? AND seq>? ORDER BY seq LIMIT ?",
                (*partition, after, limit),
            ).fetchall()  # short rows: the long bodies are stepped through below, only while they fit
            if not any(body == "" for _, _, body in rows):
                return within([StoredEvent(seq, kind, body) for seq, kind, body in rows], max_bytes)
            long_bodies = _LongBodies(db.execute(READ_BODIES, (*partition, after, rows[-1][0])))
            events: list[StoredEvent] = []
            size = 0
            for seq, kind, body in rows:
                if max_bytes is not None and size >= max_bytes:
                    break
                if body == "":
                    body = long_bodies.body(seq)
                events.append(StoredEvent(seq, kind, body))
                size += len(body)
            long_bodies.cursor.close()  # a read cut short leaves no statement in progress
        return events

    async def bounds(self, partition: Partition) -> tuple[int, int]:
        head = self._head(partition)
        with self._guard() as db:
            row = db.execute("SELECT MIN(seq) FROM events WHERE tenant=? AND stream=?", partition).fetchone()
        return (int(row[0]) if row and row[0] is not None else head + 1), head

    async def lookup(self, partition: Partition, command_ids: list[str]) -> dict[str, str]:
        if not command_ids:
            return {}
        marks = ",".join("?" * len(command_ids))
        with self._guard() as db:
            rows = db.execute(
                f"SELECT command_id, result FROM commands WHERE tenant=? AND stream=? AND command_id IN ({marks})",
                (*partition, *command_ids),
            ).fetchall()
        return dict(rows)

    async def save_snapshot(self, partition: Partition, snapshot: StoredSnapshot) -> None:
        with self._guard() as db:
            db.execute(
                "INSERT INTO snapshot_states (tenant, stream, seq, state) VALUES (?,?,?,?) "
                "ON CONFLICT (tenant, stream) DO UPDATE SET seq=excluded.seq, state=excluded.state "
                "WHERE excluded.seq > snapshot_states.seq",
                (*partition, snapshot.seq, snapshot.state_json),
            )
        self._failing = None

    async def latest_snapshot(self, partition: Partition) -> StoredSnapshot | None:
        with self._guard() as db:
            row = db.execute("SELECT seq, state FROM snapshot_states WHERE tenant=? AND stream=?",
                             partition).fetchone()
        return StoredSnapshot(int(row[0]), row[1]) if row else None

    async def prune(self, partition: Partition, through_seq: int) -> None:
        head = self._head(partition)
        with self._guard(), self._transaction() as db:
            db.execute(
                "INSERT INTO heads (tenant, stream, head) VALUES (?,?,?) "
                "ON CONFLICT (tenant, stream) DO UPDATE SET head=excluded.head",
                (*partition, head),
            )
            db.execute("DELETE FROM events WHERE tenant=? AND stream=? AND seq<=?", (*partition, through_seq))
            db.execute("DELETE FROM event_bodies WHERE tenant=? AND stream=? AND seq<=?", (*partition, through_seq))
        self._failing = None
