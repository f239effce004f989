"""Per-stream access within a tenant over real HTTP, SSE and WS: a ``grants`` claim limits an identity to
some streams, roles give its scopes, a ticket never exceeds its identity, and a malformed claim is a 401."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from servers import AtomsServer, running_server
from streams_api import problem as _problem

TEAM = {"canvas:team-42-*": ["read", "presence"], "canvas:own": ["read", "write", "presence"]}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _patch(server: AtomsServer, stream: str, token: str) -> httpx.Response:
    envelope = {"command_id": uuid.uuid4().hex, "type": "state.patch", "stream_id": stream,
                "payload": {"ops": [{"op": "add", "path": "/n", "value": 1}]}}
    return httpx.post(f"{server.url}/v1/streams/{stream}/commands", json=envelope, headers=_auth(token))


def _seq(server: AtomsServer, stream: str) -> int:
    response = httpx.get(f"{server.url}/v1/streams/{stream}/state", headers=_auth(server.token()))
    return int(response.json()["seq"])


def _ticket(server: AtomsServer, token: str, stream: str, scopes: list[str]) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/tickets", json={"stream_id": stream, "scopes": scopes}, headers=_auth(token))


@pytest.fixture(scope="module")
def viewers_default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """A server where a token without roles may only read, and a custom ``commenter`` role exists."""
    roles = {"admin": ["read", "write", "presence", "admin"], "editor": ["read", "write", "presence"],
             "viewer": ["read", "presence"], "commenter": ["read", "write"]}
    env = {"ATOMS_DEFAULT_SCOPES": "read", "ATOMS_ROLE_SCOPES": json.dumps(roles)}
    with running_server(tmp_path_factory.mktemp("roles") / "data", env=env) as srv:
        yield srv


def test_grants_limit_a_bearer_to_its_streams_with_their_scopes(shared_server: AtomsServer) -> None:
    token = shared_server.token(principal="guest", grants=TEAM)
    url = shared_server.url
    assert httpx.get(f"{url}/v1/streams/canvas:team-42-a/state", headers=_auth(token)).status_code == 200
    assert httpx.get(f"{url}/v1/streams/canvas:team-42-a/history", headers=_auth(token)).status_code == 200
    _problem(_patch(shared_server, "canvas:team-42-a", token), 403, "not_granted")
    assert _seq(shared_server, "canvas:team-42-a") == 0  # the refused command changed nothing
    for stream in ("canvas:team-43", "canvas:owner", "thread:own"):
        _problem(httpx.get(f"{url}/v1/streams/{stream}/state", headers=_auth(token)), 403, "not_granted")
    assert _patch(shared_server, "canvas:own", token).status_code == 202
    assert _seq(shared_server, "canvas:own") == 1
    # Without a grants claim, a token without roles keeps today's read, write and presence everywhere.
    assert _patch(shared_server, "canvas:team-43", shared_server.token()).status_code == 202


def test_a_ticket_never_exceeds_its_identity(shared_server: AtomsServer) -> None:
    token = shared_server.token(principal="guest", grants=TEAM)
    issued = _ticket(shared_server, token, "canvas:team-42-b", ["read", "presence"])
    assert issued.status_code == 201 and issued.json()["scopes"] == ["presence", "read"]
    _problem(_ticket(shared_server, token, "canvas:team-42-b", ["read", "write"]), 403, "not_granted")
    _problem(_ticket(shared_server, token, "canvas:elsewhere", ["read"]), 403, "not_granted")
    ticket = issued.json()["ticket"]
    envelope = {"command_id": "c1", "type": "state.patch", "stream_id": "canvas:team-42-b",
                "payload": {"ops": [{"op": "add", "path": "/n", "value": 1}]}}
    response = httpx.post(f"{shared_server.url}/v1/streams/canvas:team-42-b/commands", params={"ticket": ticket},
                          json=envelope)
    _problem(response, 403, "missing_scope")
    assert _seq(shared_server, "canvas:team-42-b") == 0


async def test_sse_and_ws_follow_the_grants(shared_server: AtomsServer) -> None:
    token = shared_server.token(principal="guest", grants=TEAM)
    async with httpx.AsyncClient(base_url=shared_server.url, headers=_auth(token), timeout=10) as client:
        async with client.stream("GET", "/v1/streams/canvas:team-42-c/events") as response:
            assert response.status_code == 200
            first = await anext(response.aiter_lines())
            assert first.startswith(("retry:", "id:", "event:"))
        async with client.stream("GET", "/v1/streams/canvas:nope/events") as response:
            assert response.status_code == 403
            assert json.loads(await response.aread())["code"] == "not_granted"
    ws = f"ws://127.0.0.1:{shared_server.port}/v1/streams"
    async with connect(f"{ws}/canvas:team-42-c/ws", additional_headers=_auth(token)) as conn:
        snapshot = json.loads(await conn.recv())
        assert snapshot["type"] == "presence.snapshot"
    with pytest.raises(InvalidStatus) as info:
        await connect(f"{ws}/canvas:nope/ws", additional_headers=_auth(token))
    assert info.value.response.status_code == 403 and json.loads(info.value.response.body)["code"] == "not_granted"
    writer = shared_server.token(principal="guest", grants={"canvas:w": ["read", "write"]})  # no presence
    with pytest.raises(InvalidStatus) as info:
        await connect(f"{ws}/canvas:w/ws", additional_headers=_auth(writer))
    assert info.value.response.status_code == 403


def test_roles_give_scopes_and_default_scopes_cover_tokens_without_roles(viewers_default: AtomsServer) -> None:
    server = viewers_default
    url = server.url

    def can(token: str, stream: str) -> tuple[bool, bool]:
        read = httpx.get(f"{url}/v1/streams/{stream}/state", headers=_auth(token)).status_code == 200
        return read, _patch(server, stream, token).status_code == 202

    assert can(server.token(), "canvas:r1") == (True, False)  # default_scopes = read
    assert can(server.token(roles="viewer"), "canvas:r1") == (True, False)
    assert can(server.token(roles="editor"), "canvas:r1") == (True, True)
    assert can(server.token(roles="commenter"), "canvas:r1") == (True, True)
    assert can(server.token(roles="no-such-role"), "canvas:r1") == (False, False)  # an unknown role grants nothing
    assert can(server.token(roles="viewer,commenter"), "canvas:r1") == (True, True)  # the union
    # grants intersect with the roles: a viewer granted write still cannot write
    assert can(server.token(roles="viewer", grants={"canvas:r2": ["read", "write"]}), "canvas:r2") == (True, False)
    viewer = server.token(roles="viewer")
    assert _ticket(server, viewer, "canvas:r1", ["read", "presence"]).status_code == 201
    _problem(_ticket(server, viewer, "canvas:r1", ["write"]), 403, "not_granted")
    _problem(_ticket(server, server.token(roles="commenter"), "canvas:r1", ["presence"]), 403, "not_granted")
    _problem(_patch(server, "canvas:r1", server.token(roles="no-such-role")), 403, "not_granted")


def test_atoms_token_grant_flag_mints_a_limited_token(shared_server: AtomsServer) -> None:
    token = shared_server.cli("token", "--data-dir", str(shared_server.data_dir), "--tenant", "acme",
                              "--principal", "cli-guest", "--roles", "viewer", "--grant", "canvas:cli-*=read,presence",
                              "--grant", "canvas:cli-own=read,write").strip()
    url = shared_server.url
    assert httpx.get(f"{url}/v1/streams/canvas:cli-x/state", headers=_auth(token)).status_code == 200
    _problem(httpx.get(f"{url}/v1/streams/canvas:other/state", headers=_auth(token)), 403, "not_granted")
    _problem(_patch(shared_server, "canvas:cli-own", token), 403, "not_granted")  # viewer: no write at all


BAD_GRANTS: dict[str, object] = {
    "a list": ["canvas:own"],
    "a string": "canvas:own",
    "null": None,
    "257 entries": {f"canvas:s{i}": ["read"] for i in range(257)},
    "a scope string, not a list": {"canvas:own": "read"},
    "an unknown scope": {"canvas:own": ["read", "delete"]},
    "admin (tenant-level, never per stream)": {"canvas:own": ["admin"]},
    "a number as scope": {"canvas:own": [1]},
    "a nested object": {"canvas:own": {"read": True}},
    "a stream id without kind": {"own": ["read"]},
    "an unknown kind": {"board:own": ["read"]},
    "a star inside": {"canvas:te*am": ["read"]},
    "a star not at the end": {"canvas:*-x": ["read"]},
    "a pattern of a kind cut short": {"can*": ["read"]},
    "a bad id character": {"canvas:a b": ["read"]},
    "a traversal": {"canvas:../x": ["read"]},
    "a leading dash after the kind": {"canvas:-*": ["read"]},
    "an id of 129 characters": {"canvas:" + "a" * 129: ["read"]},
    "more than four scopes": {"canvas:own": ["read", "read", "read", "read", "read"]},
}


@pytest.mark.parametrize("claim", BAD_GRANTS.values(), ids=BAD_GRANTS.keys())
def test_a_malformed_grants_claim_is_401_and_changes_nothing(shared_server: AtomsServer, claim: object) -> None:
    token = shared_server.signed_identity(grants=claim)
    url = shared_server.url
    stream = "canvas:bad-" + uuid.uuid4().hex[:8]
    _problem(httpx.get(f"{url}/v1/streams/{stream}/state", headers=_auth(token)), 401, "invalid_token")
    _problem(_patch(shared_server, stream, token), 401, "invalid_token")
    _problem(_ticket(shared_server, token, stream, ["read"]), 401, "invalid_token")
    assert _seq(shared_server, stream) == 0


def test_grant_patterns_that_are_allowed(shared_server: AtomsServer) -> None:
    """``*`` (every stream), ``canvas:*`` (every canvas), an exact id, and an empty scope list."""
    url = shared_server.url
    everything = shared_server.signed_identity(grants={"*": ["read"]})
    assert httpx.get(f"{url}/v1/streams/run:r1/state", headers=_auth(everything)).status_code == 200
    canvases = shared_server.signed_identity(grants={"canvas:*": ["read"], "canvas:hidden": []})
    assert httpx.get(f"{url}/v1/streams/canvas:any/state", headers=_auth(canvases)).status_code == 200
    assert httpx.get(f"{url}/v1/streams/canvas:hidden/state", headers=_auth(canvases)).status_code == 200  # union
    _problem(httpx.get(f"{url}/v1/streams/thread:t/state", headers=_auth(canvases)), 403, "not_granted")
    nothing = shared_server.signed_identity(grants={})
    _problem(httpx.get(f"{url}/v1/streams/canvas:any/state", headers=_auth(nothing)), 403, "not_granted")
