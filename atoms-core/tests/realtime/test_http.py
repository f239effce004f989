"""The HTTP reads of a stream (``realtime/http.py``): history pages over odd bounds and damaged rows."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from servers import AtomsServer, running_server
from streams_api import ODD_NUMBERS, StreamClient, patch


@pytest.mark.parametrize("raw", ODD_NUMBERS)
@pytest.mark.parametrize("name", ["after", "limit"])
def test_odd_history_bounds_are_400_not_500(shared_server: AtomsServer, raw: str, name: str) -> None:
    stream = f"canvas:h{uuid.uuid4().hex[:12]}"
    response = httpx.get(f"{shared_server.url}/v1/streams/{stream}/history", params={name: raw},
                         headers={"Authorization": f"Bearer {shared_server.token()}"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "bad_request"


#: Ways a stored event body can be damaged on disk: cut short, not text, not its own seq.
DAMAGE = {"truncated": "'{\"id\":\"2\",\"seq\":2,\"type'", "blob": "X'7b7d'", "other_seq": "'{\"seq\":7}'"}


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "store_unavailable" and response.headers["retry-after"]


def test_reads_over_a_damaged_row_are_503_and_other_pages_still_read(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as server:
        streams = {damage: StreamClient(server.url, server.token(), f"canvas:{damage}") for damage in DAMAGE}
        for client in streams.values():
            for i in range(3):
                assert client.post(patch(client.stream, f"/k{i}", i)).status_code == 202
        server.stop()  # the server holds the database file's lock while it runs
        with closing(sqlite3.connect(server.data_dir / "timeline.db")) as db, db:
            for damage, value in DAMAGE.items():
                db.execute(f"UPDATE events SET body = {value} WHERE stream = ? AND seq = 2", (f"canvas:{damage}",))
        server.start()
        for client in streams.values():
            url = f"{server.url}/v1/streams/{client.stream}/history"
            _unavailable(httpx.get(url, headers=client.headers))
            # the state (and SSE) replay the row to build the state: a store fault too, not a 500
            _unavailable(httpx.get(url.replace("/history", "/state"), headers=client.headers))
            _unavailable(httpx.get(url.replace("/history", "/events"), headers=client.headers))
            after = httpx.get(url, params={"after": 2}, headers=client.headers)
            assert after.status_code == 200 and [e["seq"] for e in after.json()["events"]] == [3]
            assert after.json()["head_seq"] == 3
