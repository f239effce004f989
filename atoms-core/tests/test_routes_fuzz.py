"""Every route of the table (docs/protocol.md) over a real ``atoms serve``, with random path parameters,
query strings, headers and bodies, with and without valid credentials: the answer is never a 5xx, and
every refusal is problem+json with a stable code. Derandomized, so a run is repeatable and short."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

from atoms_core.protocol.codes import CODES
from servers import AtomsServer
from streams_api import ODD_NUMBERS

STREAM = "canvas:fuzz"
ROUTES = [
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/v1/tickets"), ("POST", "/v1/revocations"),
    ("GET", "/v1/streams/{stream_id}/events"), ("GET", "/v1/streams/{stream_id}/ws"),
    ("POST", "/v1/streams/{stream_id}/commands"), ("GET", "/v1/streams/{stream_id}/state"),
    ("GET", "/v1/streams/{stream_id}/history"), ("POST", "/v1/artifacts"), ("GET", "/v1/artifacts/{artifact_id}"),
    ("GET", "/v1/artifacts/{artifact_id}/content"), ("PUT", "/v1/artifacts/{artifact_id}/content"),
]
FUZZ = settings(max_examples=100, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: What a header value may hold on the wire (visible ASCII, obs-text, inner spaces), as latin-1 text.
header_text = st.text(st.characters(codec="latin-1", exclude_characters="\x7f", min_codepoint=0x20),
                      max_size=60).map(str.strip)
#: Seq-like values: near-integers, runs of any Unicode digit ("²" is one to str.isdigit), long runs.
numbers = st.one_of(
    st.sampled_from([*ODD_NUMBERS, "0", "1", "3", "99999999999", str(2**62), str(2**62 + 1)]),
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=4),
    st.builds(lambda digit, n: digit * n, st.sampled_from(["9", "0", "\u00b2"]), st.integers(1, 6000)),
)


def mostly(valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """About three draws in four are valid, so the checks behind this one (auth, stream) are reached."""
    return st.one_of(valid, valid, valid, odd)


path_param = mostly(st.just(STREAM), st.one_of(
    st.sampled_from(["thread:a.b", "run:1", "canvas:", ":", "canvas:..", "x" * 300, "canvas%3Afuzz",
                     "a" * 32, "%C2%B2", "%ff", "%", "%zz"]),
    st.text(max_size=30).map(lambda t: quote(t, safe=":")),
))
query_pairs = st.one_of(
    st.just([]),
    st.lists(st.tuples(st.sampled_from(["after", "limit", "last_event_id"]), numbers), min_size=1, max_size=2),
    st.lists(st.tuples(
        st.sampled_from(["ticket", "token", "last_event_id", "after", "limit", "x", "Tenant", "", "ticket[]"]),
        st.one_of(numbers, st.text(max_size=30))), max_size=3),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10)
bodies = st.one_of(
    st.none(), st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.sampled_from([b'{"stream_id": "canvas:fuzz", "scopes": ["read"]}',
                     b'{"mime": "image/png", "size": 3, "sha256": "' + b"0" * 64 + b'"}',
                     b'{"command_id": "c", "type": "log.append", "stream_id": "canvas:fuzz",'
                     b' "payload": {"level": "info", "message": "x"}}']),
)


@pytest.fixture(scope="module")
def credentials(shared_server: AtomsServer) -> dict[str, str]:
    token = shared_server.token()
    return {"identity": token, "ticket": shared_server.ticket(STREAM, ["read", "write", "presence"], token=token),
            "jwt_key": (shared_server.data_dir / "secrets" / "jwt-dev.key").read_text().strip(),
            "ticket_key": (shared_server.data_dir / "secrets" / "ticket.key").read_text().strip()}


def hs256(header: dict[str, Any], claims: dict[str, Any], key: str) -> str:
    """A JWT signed by hand: PyJWT's encoder refuses the odd headers and claims a forger would send."""
    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{segment(json.dumps(header).encode())}.{segment(json.dumps(claims).encode())}"
    return f"{signing_input}.{segment(hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest())}"


def signed_with_odd_claims(credentials: dict[str, str]) -> st.SearchStrategy[str]:
    """Tokens the server's own keys signed, whose claims or headers have random types and values."""
    now = int(time.time())
    identity = {"iss": "atoms-dev", "aud": "atoms", "sub": "alice", "tenant_id": "acme", "exp": now + 600}
    ticket = {"sub": "alice", "tid": "acme", "sid": STREAM, "scp": ["read"], "exp": now + 60,
              "aud": "atoms-ticket", "jti": "j"}
    odd = st.dictionaries(st.sampled_from(["sub", "tenant_id", "tid", "sid", "scp", "roles", "exp", "jti", "aud"]),
                          json_values, max_size=2)
    odd_header = st.dictionaries(st.sampled_from(["kid", "typ", "alg"]), json_values, max_size=2)
    jwt_key, ticket_key = credentials["jwt_key"], credentials["ticket_key"]
    return st.one_of(
        odd.map(lambda c: hs256({"alg": "HS256", "kid": "dev"}, {**identity, **c}, jwt_key)),
        odd.map(lambda c: hs256({"alg": "HS256", "typ": "atoms-ticket"}, {**ticket, **c}, ticket_key)),
        odd_header.map(lambda h: hs256({"alg": "HS256", "kid": "dev", **h}, identity, jwt_key)),
        odd_header.map(lambda h: hs256({"alg": "HS256", "typ": "atoms-ticket", **h}, ticket, ticket_key)),
    )


@pytest.fixture(scope="module")
def http(shared_server: AtomsServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.url, timeout=10) as client:
        yield client


def authorization(credentials: dict[str, str]) -> st.SearchStrategy[str | None]:
    tokens = [credentials["identity"], credentials["ticket"]]
    return mostly(st.sampled_from([f"Bearer {token}" for token in tokens]), st.one_of(
        st.none(), signed_with_odd_claims(credentials).map(lambda t: f"Bearer {t}"),
        st.builds(lambda t, cut: f"Bearer {t[:cut]}", st.sampled_from(tokens), st.integers(0, 400)),
        header_text.map(lambda v: f"Bearer {v}"), header_text,
    ))


def request_parts(credentials: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "param": path_param,
        "query": st.one_of(query_pairs, query_pairs.map(lambda q: [("ticket", credentials["ticket"]), *q])),
        "authorization": authorization(credentials),
        "last_event_id": st.one_of(st.none(), numbers, numbers, header_text),
        "content_type": st.one_of(st.none(), st.sampled_from(["application/json", "text/plain", "image/png"]),
                                  header_text),
        "body": bodies,
    })


def headers_of(parts: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    headers = []
    for name, key in (("Authorization", "authorization"), ("Last-Event-ID", "last_event_id"),
                      ("Content-Type", "content_type")):
        value = (parts[key] or "").strip()  # the wire has no leading or trailing whitespace
        if value:
            # latin-1 is what a header carries; anything past it (Unicode digits) goes as UTF-8 bytes
            headers.append((name.encode(), value.encode("latin-1") if max(value) <= "\xff" else value.encode()))
    return headers


def assert_clean(status: int, content_type: str, body: bytes, what: str) -> None:
    assert status < 500, f"{what} -> {status}: {body[:300]!r}"
    if status >= 400:
        assert content_type == "application/problem+json", f"{what} -> {status} {content_type}"
        assert json.loads(body)["code"] in CODES, what


@pytest.mark.parametrize(("method", "route"), ROUTES, ids=[f"{m} {r}" for m, r in ROUTES])
def test_no_input_gets_a_5xx(http: httpx.Client, credentials: dict[str, str], method: str, route: str) -> None:
    @FUZZ
    @given(request_parts(credentials))
    def one(parts: dict[str, Any]) -> None:
        path = route.replace("{stream_id}", parts["param"]).replace("{artifact_id}", parts["param"])
        url = httpx.URL(path, params=parts["query"]) if parts["query"] else path
        body = parts["body"] if method in ("POST", "PUT") else None
        with http.stream(method, url, headers=headers_of(parts), content=body) as response:
            data = response.read() if response.status_code >= 400 else b""  # an SSE stream never ends
            assert_clean(response.status_code, response.headers.get("content-type", ""), data,
                         f"{method} {path} {parts}")

    one()


def test_no_signed_token_gets_a_5xx(http: httpx.Client, credentials: dict[str, str]) -> None:
    """Tokens signed with the server's keys whose claims or headers have any type: a 401, never a 500."""
    @settings(FUZZ, max_examples=400)
    @given(signed_with_odd_claims(credentials), st.sampled_from(["/v1/tickets", f"/v1/streams/{STREAM}/state"]))
    def one(token: str, path: str) -> None:
        method = "POST" if path == "/v1/tickets" else "GET"
        response = http.request(method, path, json={"stream_id": STREAM}, headers={"Authorization": f"Bearer {token}"})
        assert_clean(response.status_code, response.headers.get("content-type", ""), response.content,
                     f"{method} {path} {jwt_parts(token)}")

    one()


def jwt_parts(token: str) -> list[Any]:
    return [json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in token.split(".")[:2]]


def test_no_websocket_handshake_gets_a_5xx(shared_server: AtomsServer, credentials: dict[str, str]) -> None:
    base = shared_server.url.replace("http://", "ws://")

    @FUZZ
    @given(request_parts(credentials))
    def one(parts: dict[str, Any]) -> None:
        # A request line past 8 KiB gets no answer at all from uvicorn's WebSocket server (the client
        # times out); HTTP routes get the long queries.
        query = str(httpx.QueryParams(parts["query"]))[:4096]
        url = f"{base}/v1/streams/{parts['param']}/ws" + (f"?{query}" if query else "")
        headers = [(name.decode(), value.decode("latin-1")) for name, value in headers_of(parts)]
        try:
            with connect(url, additional_headers=headers, open_timeout=10):
                pass
        except InvalidStatus as refused:
            response = refused.response
            assert_clean(response.status_code, response.headers.get("content-type", ""), response.body or b"",
                         f"WS {url} {parts}")
        except InvalidHandshake as other:  # e.g. a URL the client itself refuses to send
            assert "500" not in str(other), str(other)

    one()
