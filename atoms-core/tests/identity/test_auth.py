"""Identity and tickets over real HTTP: every bad credential is refused, nothing leaks across tenants."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest

from servers import AtomsServer, running_server

STREAM = "canvas:board1"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["type"].endswith(code)
    return body


def _state(server: AtomsServer, ticket: str, stream: str = STREAM) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/streams/{stream}/state", params={"ticket": ticket})


def test_ticket_round_trip_and_shape(server: AtomsServer, token: str) -> None:
    response = httpx.post(f"{server.url}/v1/tickets", json={"canvas_id": "board1", "scopes": ["read"]},
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201
    body = response.json()
    assert body["stream_id"] == STREAM and body["scopes"] == ["read"] and body["expires_in"] == 60
    claims = jwt.decode(body["ticket"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60 and claims["jti"] and claims["sid"] == STREAM
    assert _state(server, body["ticket"]).json() == {"stream_id": STREAM, "state": {}, "seq": 0, "version": 0}


def test_ticket_needs_identity_and_caps_ttl(server: AtomsServer, token: str) -> None:
    _problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM}), 401, "unauthenticated")
    auth = {"Authorization": f"Bearer {token}"}
    _problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM, "ttl_s": 301}, headers=auth),
             422, "validation_failed")
    _problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": "canvas:../x"}, headers=auth),
             400, "invalid_stream_id")
    _problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM, "scopes": ["admin"]},
                        headers=auth), 422, "validation_failed")


def test_forged_ticket_is_refused(server: AtomsServer) -> None:
    real = jwt.decode(server.ticket(STREAM, ["read"]), options={"verify_signature": False})
    forged = jwt.encode(real, "not-the-server-key-" * 3, algorithm="HS256", headers={"typ": "atoms-ticket"})
    _problem(_state(server, forged), 401, "invalid_token")


def test_alg_none_is_refused_for_tickets_and_identity(server: AtomsServer) -> None:
    claims = jwt.decode(server.ticket(STREAM, ["read"]), options={"verify_signature": False})
    unsigned = f"{_b64({'alg': 'none', 'typ': 'atoms-ticket'})}.{_b64(claims)}."
    _problem(_state(server, unsigned), 401, "invalid_token")
    identity = jwt.decode(server.token(), options={"verify_signature": False})
    unsigned_id = f"{_b64({'alg': 'none', 'kid': 'dev'})}.{_b64(identity)}."
    _problem(httpx.get(f"{server.url}/v1/streams/{STREAM}/state",
                       headers={"Authorization": f"Bearer {unsigned_id}"}), 401, "invalid_token")


def test_expired_ticket_and_identity_are_refused(server: AtomsServer) -> None:
    key = (server.data_dir / "secrets" / "ticket.key").read_text().strip()
    now = int(time.time())
    expired = jwt.encode({"sub": "alice", "tid": "acme", "sid": STREAM, "scp": ["read"], "iat": now - 120,
                          "exp": now - 60, "aud": "atoms-ticket", "jti": "x"}, key, algorithm="HS256",
                         headers={"typ": "atoms-ticket"})
    _problem(_state(server, expired), 401, "ticket_expired")
    old = server.token(ttl=-60)
    _problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM},
                        headers={"Authorization": f"Bearer {old}"}), 401, "invalid_token")


def test_ticket_for_another_stream_or_scope_is_forbidden(server: AtomsServer) -> None:
    read_other = server.ticket("canvas:other", ["read"])
    _problem(_state(server, read_other), 403, "wrong_stream")
    read_only = server.ticket(STREAM, ["read"])
    command = {"command_id": "c1", "type": "log.append", "stream_id": STREAM,
               "payload": {"level": "info", "message": "hi"}}
    _problem(httpx.post(f"{server.url}/v1/streams/{STREAM}/commands", params={"ticket": read_only}, json=command),
             403, "missing_scope")
    _problem(httpx.get(f"{server.url}/v1/streams/{STREAM}/events", params={"ticket": server.ticket(
        STREAM, ["write"])}), 403, "missing_scope")
    assert _state(server, read_only).json()["seq"] == 0


def test_other_tenant_sees_only_its_own_partition(server: AtomsServer) -> None:
    acme, globex = server.token("acme", "alice"), server.token("globex", "bob")
    command = {"command_id": "c1", "type": "state.patch", "stream_id": STREAM,
               "payload": {"ops": [{"op": "add", "path": "/secret", "value": "acme-only"}]}}
    response = httpx.post(f"{server.url}/v1/streams/{STREAM}/commands", json=command,
                          headers={"Authorization": f"Bearer {acme}"})
    assert response.status_code == 202
    theirs = _state(server, server.ticket(STREAM, ["read"], token=globex)).json()
    assert theirs == {"stream_id": STREAM, "state": {}, "seq": 0, "version": 0}
    ours = _state(server, server.ticket(STREAM, ["read"], token=acme)).json()
    assert ours["state"] == {"secret": "acme-only"}


@pytest.mark.parametrize("param", ["tenant", "tenant_id", "project", "project_id", "Tenant_ID"])
@pytest.mark.parametrize("path", ["/healthz", f"/v1/streams/{STREAM}/state", f"/v1/streams/{STREAM}/events",
                                  "/v1/tickets"])
def test_tenant_in_query_is_400_everywhere(shared_server: AtomsServer, param: str, path: str) -> None:
    server, token = shared_server, shared_server.token()
    method = "POST" if path == "/v1/tickets" else "GET"
    response = httpx.request(method, f"{server.url}{path}", params={param: "globex"}, json={"stream_id": STREAM},
                             headers={"Authorization": f"Bearer {token}"})
    body = _problem(response, 400, "tenant_in_query")
    assert "globex" not in json.dumps(body)


def test_key_rotation_by_kid(tmp_path: object) -> None:
    from pathlib import Path

    data = Path(str(tmp_path)) / "data"
    secrets_dir = data / "secrets"
    secrets_dir.mkdir(parents=True)
    (secrets_dir / "k-old.key").write_text("old-key-" + "x" * 40)
    (secrets_dir / "k-new.key").write_text("new-key-" + "y" * 40)
    keys = json.dumps({"old": "secret://file/k-old.key", "new": "secret://file/k-new.key"})
    env = {"ATOMS_JWT_KEYS": keys, "ATOMS_JWT_SIGNING_KID": "new"}
    with running_server(data, env=env) as server:
        for kid, key in (("old", "old-key-" + "x" * 40), ("new", "new-key-" + "y" * 40)):
            claims = {"iss": "atoms-dev", "aud": "atoms", "sub": "alice", "tenant_id": "acme",
                      "exp": int(time.time()) + 60}
            token = jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid})
            response = httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM},
                                  headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 201, (kid, response.text)
        wrong_kid = jwt.encode(claims, "old-key-" + "x" * 40, algorithm="HS256", headers={"kid": "new"})
        _problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM},
                            headers={"Authorization": f"Bearer {wrong_kid}"}), 401, "invalid_token")
        retired = jwt.encode(claims, "gone-key-" + "z" * 40, algorithm="HS256", headers={"kid": "retired"})
        _problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM},
                            headers={"Authorization": f"Bearer {retired}"}), 401, "invalid_token")
        # `atoms token` signs with the configured signing kid
        minted = server.cli("token", "--data-dir", str(data), "--tenant", "acme", "--principal", "p").strip()
        assert jwt.get_unverified_header(minted)["kid"] == "new"


def test_wrong_audience_or_issuer_is_refused(server: AtomsServer) -> None:
    key = (server.data_dir / "secrets" / "jwt-dev.key").read_text().strip()
    base = {"sub": "alice", "tenant_id": "acme", "exp": int(time.time()) + 60}
    for claims in ({**base, "iss": "atoms-dev", "aud": "other"}, {**base, "iss": "evil", "aud": "atoms"},
                   {**base, "iss": "atoms-dev", "aud": "atoms", "tenant_id": ""}):
        token = jwt.encode(claims, key, algorithm="HS256", headers={"kid": "dev"})
        _problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM},
                            headers={"Authorization": f"Bearer {token}"}), 401, "invalid_token")
    hs512 = jwt.encode({**base, "iss": "atoms-dev", "aud": "atoms"}, key, algorithm="HS512",
                       headers={"kid": "dev"})
    _problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM},
                        headers={"Authorization": f"Bearer {hs512}"}), 401, "invalid_token")


def test_parser_bomb_is_refused_not_500(shared_server: AtomsServer) -> None:
    bomb = b"[" * 2_000 + b"]" * 2_000  # under both routes' body caps, over the parser's depth
    for path in ("/v1/tickets", "/v1/artifacts"):
        response = httpx.post(f"{shared_server.url}{path}", content=bomb,
                              headers={"Authorization": f"Bearer {shared_server.token()}"})
        _problem(response, 422, "sidecar_too_deep")


def _ticket_with(server: AtomsServer, token: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM},
                      headers={"Authorization": f"Bearer {token}"})


#: Claims of the wrong type or outside the documented charsets and lengths (docs/protocol.md, Identity).
BAD_CLAIMS: dict[str, dict[str, object]] = {
    "exp as a string": {"exp": str(int(time.time()) + 60)},
    "exp 1e20": {"exp": 1e20},
    "exp a boolean": {"exp": True},
    "exp past jwt_max_ttl_s": {"exp": int(time.time()) + 31 * 86400},
    "empty sub": {"sub": ""},
    "sub with a bidi mark": {"sub": "ali\u202eecil"},
    "sub with a trailing space": {"sub": "alice "},
    "sub with a tab": {"sub": "alice\tsmith"},
    "sub of 257 characters": {"sub": "a" * 257},
    "tenant with NUL": {"tenant_id": "acme\x00"},
    "tenant with a bidi mark": {"tenant_id": "ac\u200fme"},
    "tenant of 100k characters": {"tenant_id": "a" * 100_000},
    "tenant with a slash": {"tenant_id": "acme/../globex"},
    "tenant a number": {"tenant_id": 5},
    "tenant of the old digest form": {"tenant_id": "sha256-" + "0" * 64},
    "roles a number": {"roles": 5},
    "roles a boolean": {"roles": True},
    "roles a string": {"roles": "admin"},
    "roles holding a number": {"roles": ["admin", 1]},
    "65 roles": {"roles": [f"r{i}" for i in range(65)]},
    "role with a space": {"roles": ["canvas editor"]},
}


@pytest.mark.parametrize("claims", BAD_CLAIMS.values(), ids=BAD_CLAIMS.keys())
def test_malformed_identity_claims_are_401(shared_server: AtomsServer, claims: dict[str, object]) -> None:
    response = _ticket_with(shared_server, shared_server.signed_identity(**claims))
    body = _problem(response, 401, "invalid_token")
    assert len(response.content) < 1000 and "\u202e" not in str(body)  # the value is never echoed


GOOD_CLAIMS: dict[str, dict[str, object]] = {
    "IdP subjects": {"sub": "auth0|5f7c8ec7c33c6c004bbafe82"},
    "email subject": {"sub": "ada+canvas@example.com"},
    "display name": {"sub": "guest:Ada Lovelace"},
    "workload subject": {"sub": "repo:org/app:ref:refs/heads/main"},
    "longest ids": {"sub": "p" * 256, "tenant_id": "T" * 128},
    "dotted tenant": {"tenant_id": "Org_1.eu-west"},
    "roles": {"roles": ["admin", "canvas.edit", "urn:atoms:viewer"]},
    "null roles": {"roles": None},
    "fractional exp": {"exp": time.time() + 60.5},
}


@pytest.mark.parametrize("claims", GOOD_CLAIMS.values(), ids=GOOD_CLAIMS.keys())
def test_well_formed_identity_claims_are_accepted(shared_server: AtomsServer, claims: dict[str, object]) -> None:
    response = _ticket_with(shared_server, shared_server.signed_identity(**claims))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("claims", [{"scp": "read"}, {"scp": [["read"]]}, {"tid": "a b"}, {"tid": 7},
                                    {"sid": "canvas:../x"}, {"sid": None}, {"sub": ""}, {"jti": 1}],
                         ids=["scp string", "scp nested", "tid space", "tid number", "sid traversal",
                              "sid null", "empty sub", "jti number"])
def test_malformed_ticket_claims_are_401(shared_server: AtomsServer, claims: dict[str, object]) -> None:
    key = (shared_server.data_dir / "secrets" / "ticket.key").read_text().strip()
    now = int(time.time())
    base = {"sub": "alice", "tid": "acme", "sid": STREAM, "scp": ["read"], "iat": now, "exp": now + 60,
            "aud": "atoms-ticket", "jti": "j1"}
    ticket = jwt.encode({**base, **claims}, key, algorithm="HS256", headers={"typ": "atoms-ticket"})
    _problem(_state(shared_server, ticket), 401, "invalid_token")
