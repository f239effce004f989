"""The blocking facade for scripts, against a real server."""

from __future__ import annotations

from atoms_core.client import SyncClient
from servers import AtomsServer


def test_a_script_can_command_stream_text_read_state_and_follow_events(shared_server: AtomsServer) -> None:
    stream = "canvas:script"
    token = shared_server.token()
    with SyncClient(shared_server.url, lambda: token) as client:
        result = client.command(stream, "state.patch", {"ops": [{"op": "add", "path": "/t", "value": ""}]})
        requests = client.stream_text(stream, "/t", (f"w{i} " for i in range(500)))
        state = client.state(stream)
        assert state["state"]["t"] == "".join(f"w{i} " for i in range(500))
        assert requests < 50
        with client.subscribe(stream) as sub:
            assert sub.view.doc == state["state"]
            client.command(stream, "log.append", {"level": "info", "message": "live"})
            first = next(iter(sub))
    assert first.seq == state["seq"] + 1 and first.data["message"] == "live"
    assert result.seq == 1
