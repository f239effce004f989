"""What only the embedded SQLite engine promises: a stream's big snapshot costs no other stream a read,
and a data dir written by an older release still opens with everything in it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from atoms_core.realtime.timeline import Partition, StoredEvent, StoredSnapshot
from atoms_core.stores.sqlite import SqliteStore

BIG = 20 << 20  # a 20 MiB state
OTHERS = [Partition("acme", f"canvas:s{i:02d}") for i in range(40)]
HUGE = Partition("acme", "canvas:s20x")  # sorts among the others


def _read_bytes() -> int:
    """Bytes this process has read through read(2)/pread(2): SQLite reads pages that way (no mmap)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


async def _first_access_of_others_reads(path: Path) -> int:
    """Reopen (a cold page cache), then look up every other partition the way a first access does."""
    store = SqliteStore(path)
    await store.open()
    try:
        before = _read_bytes()
        for part in OTHERS:
            assert await store.latest_snapshot(part) == StoredSnapshot(1, '{"small":1}')
            await store.bounds(part)
            await store.read(part, 0, 500)
        read = _read_bytes() - before
        assert len((await store.latest_snapshot(HUGE) or StoredSnapshot(0, "")).state_json) > BIG
        return read
    finally:
        await store.close()


async def test_a_large_snapshot_costs_other_partitions_no_reads(tmp_path: Path) -> None:
    path = tmp_path / "timeline.db"
    store = SqliteStore(path)
    await store.open()
    for part in OTHERS:
        await store.append(part, 0, [StoredEvent(1, "log", '{"x":1}')], {})
        await store.save_snapshot(part, StoredSnapshot(1, '{"small":1}'))
    await store.save_snapshot(HUGE, StoredSnapshot(1, json.dumps({"k": "x" * BIG})))
    await store.close()
    assert await _first_access_of_others_reads(path) < 1 << 20  # a few pages each, never the 20 MiB


LEGACY_SCHEMA = """
CREATE TABLE heads (tenant TEXT NOT NULL, stream TEXT NOT NULL, head INTEGER NOT NULL,
  PRIMARY KEY (tenant, stream)) WITHOUT ROWID;
CREATE TABLE events (tenant TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
  body TEXT NOT NULL, PRIMARY KEY (tenant, stream, seq)) WITHOUT ROWID;
CREATE TABLE commands (tenant TEXT NOT NULL, stream TEXT NOT NULL, command_id TEXT NOT NULL, result TEXT NOT NULL,
  PRIMARY KEY (tenant, stream, command_id)) WITHOUT ROWID;
CREATE TABLE snapshots (tenant TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL,
  PRIMARY KEY (tenant, stream)) WITHOUT ROWID;
"""


async def test_a_timeline_db_of_the_previous_schema_opens_with_its_snapshots_and_events(tmp_path: Path) -> None:
    path = tmp_path / "timeline.db"
    with sqlite3.connect(path) as db:
        db.executescript(LEGACY_SCHEMA)
        for part in OTHERS:
            db.execute("INSERT INTO events VALUES (?,?,1,'log','{\"x\":1}')", part)
            db.execute("INSERT INTO commands VALUES (?,?,'c1','{\"seq\":1}')", part)
            db.execute("INSERT INTO snapshots VALUES (?,?,1,'{\"small\":1}')", part)
        db.execute("INSERT INTO snapshots VALUES (?,?,1,?)", (*HUGE, json.dumps({"k": "x" * BIG})))
    db.close()

    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.bounds(OTHERS[3]) == (1, 1)
        assert await store.lookup(OTHERS[3], ["c1"]) == {"c1": '{"seq":1}'}
        await store.append(OTHERS[3], 1, [StoredEvent(2, "log", "{}")], {})
        assert await store.bounds(OTHERS[3]) == (1, 2)
        fresh = Partition("acme", "canvas:fresh")
        await store.save_snapshot(fresh, StoredSnapshot(2, '{"newer":2}'))
        await store.save_snapshot(fresh, StoredSnapshot(1, '{"older":1}'))
        assert await store.latest_snapshot(fresh) == StoredSnapshot(2, '{"newer":2}')
    finally:
        await store.close()
    # the migrated file keeps the big snapshot, out of the other partitions' way
    assert await _first_access_of_others_reads(path) < 1 << 20
