"""What only the embedded SQLite engine promises: a stream's big snapshot costs no other stream a read,
a data dir written by an older release still opens with everything in it, and a lost or corrupt
``timeline.db`` stops the start with one line instead of becoming an empty store."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from atoms_core.protocol.timeline import Partition, StoredEvent, StoredSnapshot
from atoms_core.stores.sqlite import SqliteStore
from filesystems import fill, small_tmpfs
from servers import ATOMS, AtomsServer, running_server
from streams_api import StreamClient, patch

BIG = 20 << 20  # a 20 MiB state
OTHERS = [Partition("acme", f"canvas:s{i:02d}") for i in range(40)]
HUGE = Partition("acme", "canvas:s20x")  # sorts among the others


def _read_bytes() -> int:
    """Bytes this process has read through read(2)/pread(2): SQLite reads pages that way (no mmap)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


async def _first_access_of_others_reads(path: Path, huge_snapshot: bool = True) -> int:
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
        if huge_snapshot:  # still there, whole
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


async def test_large_events_cost_other_partitions_no_reads(tmp_path: Path) -> None:
    path = tmp_path / "timeline.db"
    store = SqliteStore(path)
    await store.open()
    for part in OTHERS:
        await store.append(part, 0, [StoredEvent(1, "log", '{"x":1}')], {})
        await store.save_snapshot(part, StoredSnapshot(1, '{"small":1}'))
    body = json.dumps({"k": "x" * (900 << 10)})  # events near the 1 MiB body cap
    for seq in range(1, 31):
        await store.append(HUGE, seq - 1, [StoredEvent(seq, "state_patch", body)], {})
    await store.close()
    assert await _first_access_of_others_reads(path, huge_snapshot=False) < 1 << 20


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


def _serve(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``atoms serve`` on a data dir it must refuse: it exits by itself, before listening."""
    return subprocess.run([ATOMS, "serve", "--port", "0", "--data-dir", str(data_dir), *extra],
                          capture_output=True, text=True, timeout=60)


def _served_once(data_dir: Path) -> None:
    with running_server(data_dir) as server:
        client = StreamClient(server.url, server.token(), "canvas:kept")
        assert client.post(patch(client.stream, "/a", 1)).status_code == 202


@pytest.mark.parametrize("loss", ["truncated", "deleted"])
def test_a_lost_timeline_db_is_refused_at_start_until_allowed(tmp_path: Path, loss: str) -> None:
    data = tmp_path / "data"
    _served_once(data)
    db = data / "timeline.db"
    if loss == "truncated":
        db.write_bytes(b"")
    else:
        db.unlink()
    refused = _serve(data)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    [line] = [line for line in refused.stderr.splitlines() if str(db) in line]
    assert line.startswith("atoms: ") and "--allow-empty-store" in line
    assert ("empty" if loss == "truncated" else "missing") in line

    with running_server(data, args=["--allow-empty-store"]) as server:  # told to: a new, empty timeline
        assert StreamClient(server.url, server.token(), "canvas:kept").state()["seq"] == 0
    with running_server(data) as server:  # and from then on that is the data dir's timeline
        assert StreamClient(server.url, server.token(), "canvas:kept").state()["seq"] == 0


def test_a_corrupt_timeline_db_is_refused_with_its_path_and_no_traceback(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _served_once(data)
    db = data / "timeline.db"
    db.write_bytes(random.Random(7).randbytes(64 * 1024))
    refused = _serve(data)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    [line] = [line for line in refused.stderr.splitlines() if str(db) in line]
    assert line.startswith("atoms: ") and "not a readable" in line
    assert db.stat().st_size == 64 * 1024  # left as it was, for the operator


def test_a_timeline_db_of_another_data_dir_is_refused(tmp_path: Path) -> None:
    _served_once(tmp_path / "one")
    _served_once(tmp_path / "two")
    shutil.copy(tmp_path / "two" / "timeline.db", tmp_path / "one" / "timeline.db")
    refused = _serve(tmp_path / "one")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert str(tmp_path / "one" / "timeline.db") in refused.stderr and "timeline.id" in refused.stderr


def test_a_data_dir_of_an_older_release_gets_its_marker_and_keeps_its_events(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _served_once(data)
    (data / "timeline.id").unlink()  # as an older release left it
    with running_server(data) as server:
        assert StreamClient(server.url, server.token(), "canvas:kept").state()["seq"] == 1
    assert (data / "timeline.id").read_text().strip()


def _readyz(server: AtomsServer) -> tuple[int, dict[str, bool]]:
    response = httpx.get(f"{server.url}/readyz")
    return response.status_code, response.json()["checks"]


def test_a_full_data_disk_turns_readyz_unready_until_writes_work_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with small_tmpfs(data, "8m"), running_server(data) as server:
        client = StreamClient(server.url, server.token(), "canvas:disk")
        assert client.post(patch(client.stream, "/a", 0)).status_code == 202
        filler = fill(data)
        big = "x" * 200_000
        codes = [client.post(patch(client.stream, f"/b{i}", big)).status_code for i in range(30)]
        assert 503 in codes and 500 not in codes
        status, checks = _readyz(server)
        assert status == 503 and checks["store"] is False
        filler.unlink()
        deadline = time.monotonic() + 20
        while _readyz(server)[1]["store"] is not True:  # a probe write tells when writes work again
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert client.post(patch(client.stream, "/after", 1)).status_code == 202


def test_a_corrupt_page_met_while_running_answers_503_and_keeps_readyz_unready(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data) as server, httpx.Client(base_url=server.url) as http:
        auth = {"Authorization": f"Bearer {server.token()}"}
        for i in range(300):  # enough streams for the events table to span many pages
            stream = f"canvas:c{i}"
            response = http.post(f"/v1/streams/{stream}/commands", json=patch(stream, "/k", "v" * 200), headers=auth)
            assert response.status_code == 202
    db = data / "timeline.db"
    with sqlite3.connect(db) as conn:
        [root] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='events'").fetchone()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with db.open("r+b") as handle:  # the events table's root page: garbage
        handle.seek((root - 1) * page_size)
        handle.write(random.Random(3).randbytes(page_size))
    with running_server(data) as server:  # its identity reads fine: it starts
        assert _readyz(server)[0] == 200
        client = StreamClient(server.url, server.token(), "canvas:c7")
        assert client.post(patch(client.stream, "/k2", 1)).status_code == 503
        for _ in range(3):  # and stays unready: a corrupt file needs an operator
            status, checks = _readyz(server)
            assert status == 503 and checks["store"] is False
            time.sleep(0.2)
        assert "corrupt" in server.log_path.read_text()
