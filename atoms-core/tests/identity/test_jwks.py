"""Identity tokens signed by an identity provider's keys, found through its JWKS URL: a real local
HTTP server serves a JWKS we generate (RSA, P-256 and Ed25519), a real ``atoms serve`` fetches it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from servers import AtomsServer, running_server

ISSUER, AUDIENCE, TENANT_CLAIM = "https://idp.example/", "atoms-api", "https://app.example/tenant"
STREAM = "canvas:jwks"


class Provider:
    """The identity provider: signing keys by kid, a JWKS endpoint counting its fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, Any]] = {}
        self.fetches = 0
        self.delay_s = 0.0  # a slow provider
        self.padding = 0  # bytes of filler in the answer (an oversized key set)
        self.body: bytes | None = None  # an answer other than the key set (a broken provider)
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                time.sleep(provider.delay_s)
                jwks = {"keys": [provider.jwk(kid) for kid in list(provider.keys)], "filler": "x" * provider.padding}
                body = json.dumps(jwks).encode() if provider.body is None else provider.body
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/.well-known/jwks.json"

    def add(self, kid: str, alg: str) -> None:
        private: Any = {"RS256": lambda: rsa.generate_private_key(65537, 2048),
                        "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
                        "EdDSA": ed25519.Ed25519PrivateKey.generate}[alg]()
        self.keys[kid] = (alg, private)

    def jwk(self, kid: str) -> dict[str, Any]:
        alg, private = self.keys[kid]
        codec: Any = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[alg]
        return {**codec.to_jwk(private.public_key(), as_dict=True), "kid": kid, "alg": alg, "use": "sig"}

    def token(self, kid: str, tenant: object = "acme", sub: str = "auth0|5f7c8e", **claims: Any) -> str:
        alg, private = self.keys[kid]
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, TENANT_CLAIM: tenant, "iat": now, "exp": now + 600,
                   **claims}
        return jwt.encode(payload, private, algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    idp = Provider()
    idp.add("rsa-1", "RS256")
    idp.add("ec-1", "ES256")
    idp.add("ed-1", "EdDSA")
    yield idp
    idp.http.shutdown()


@pytest.fixture(scope="module")
def server(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    env = {"ATOMS_JWT_JWKS_URL": provider.url, "ATOMS_JWT_ISSUER": ISSUER, "ATOMS_JWT_AUDIENCE": AUDIENCE,
           "ATOMS_JWT_ALGORITHMS": '["RS256", "ES256", "EdDSA", "HS256"]', "ATOMS_TENANT_CLAIM": TENANT_CLAIM,
           "ATOMS_JWT_JWKS_MIN_REFETCH_S": "1"}
    with running_server(tmp_path_factory.mktemp("jwks") / "data", env=env) as srv:
        yield srv


def state(server: AtomsServer, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/streams/{STREAM}/state", headers={"Authorization": f"Bearer {token}"})


def refused(response: httpx.Response, code: str = "invalid_token") -> bool:
    return (response.status_code == 401 and response.json()["code"] == code
            and response.headers["content-type"].startswith("application/problem+json"))


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1", "ed-1"])
def test_tokens_signed_with_each_jwks_key_are_accepted(server: AtomsServer, provider: Provider, kid: str) -> None:
    response = state(server, provider.token(kid))
    assert response.status_code == 200, response.text
    ticket = httpx.post(f"{server.url}/v1/tickets", json={"stream_id": STREAM},
                        headers={"Authorization": f"Bearer {provider.token(kid, tenant='beta')}"})
    assert ticket.status_code == 201
    # the tenant came from the configured claim: a beta ticket does not read acme's stream state
    claims = jwt.decode(ticket.json()["ticket"], options={"verify_signature": False})
    assert claims["tid"] == "beta" and claims["sub"] == "auth0|5f7c8e"


def test_bad_tokens_are_refused(server: AtomsServer, provider: Provider) -> None:
    assert refused(state(server, provider.token("rsa-1", tenant=None)))  # no tenant claim
    assert refused(state(server, provider.token("rsa-1", tenant="bad tenant")))
    assert refused(state(server, provider.token("rsa-1", iss="https://evil.example/")))
    stranger = Provider()
    stranger.add("rsa-1", "RS256")  # same kid, other key
    assert refused(state(server, stranger.token("rsa-1")))
    stranger.http.shutdown()
    # algorithm confusion: an HS256 token "signed" with the RSA public key's modulus as the secret
    public = provider.jwk("rsa-1")["n"]
    forged = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", TENANT_CLAIM: "acme", "exp": time.time() + 60},
                        public, algorithm="HS256", headers={"kid": "rsa-1"})
    assert refused(state(server, forged))


def test_rotation_needs_no_restart_and_unknown_kids_are_rate_limited(server: AtomsServer,
                                                                     provider: Provider) -> None:
    time.sleep(1.1)
    before, start = provider.fetches, time.monotonic()
    for n in range(50):  # made-up kids: at most one fetch per jwt_jwks_min_refetch_s (1 s here)
        assert refused(state(server, _with_kid(provider, f"nope-{n}")))
    assert provider.fetches - before <= 1 + time.monotonic() - start
    provider.add("rsa-2", "RS256")  # the provider rotates: publishes the new key, signs with it
    time.sleep(1.1)
    assert state(server, provider.token("rsa-2")).status_code == 200
    del provider.keys["rsa-1"]


def _with_kid(provider: Provider, kid: str) -> str:
    alg, private = provider.keys["ec-1"]
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", TENANT_CLAIM: "acme", "exp": time.time() + 60},
                      private, algorithm=alg, headers={"kid": kid})


def test_an_unreachable_jwks_refuses_tokens_and_the_server_still_starts(tmp_path: Path) -> None:
    env = {"ATOMS_JWT_JWKS_URL": "http://127.0.0.1:9/jwks.json", "ATOMS_JWT_ALGORITHMS": '["RS256"]'}
    idp = Provider()
    idp.add("rsa-1", "RS256")
    with running_server(tmp_path / "data", env=env) as srv:
        assert refused(state(srv, idp.token("rsa-1")))
        assert httpx.get(f"{srv.url}/healthz").status_code == 200
    idp.http.shutdown()


def _refetching(idp: Provider) -> dict[str, str]:
    """A server on ``idp``'s RS256 keys that fetches the set again on every unknown kid."""
    return {"ATOMS_JWT_JWKS_URL": idp.url, "ATOMS_JWT_ISSUER": ISSUER, "ATOMS_JWT_AUDIENCE": AUDIENCE,
            "ATOMS_JWT_ALGORITHMS": '["RS256"]', "ATOMS_TENANT_CLAIM": TENANT_CLAIM,
            "ATOMS_JWT_JWKS_MIN_REFETCH_S": "0"}


def test_a_slow_key_fetch_holds_only_the_token_that_waits_for_it(tmp_path: Path) -> None:
    """A token with a new kid waits for the fetch of the key set; nobody else waits with it."""
    idp = Provider()
    idp.add("rsa-1", "RS256")
    with running_server(tmp_path / "data", env=_refetching(idp)) as srv:
        known = idp.token("rsa-1", tenant="other")
        assert state(srv, known).status_code == 200
        idp.add("rsa-2", "RS256")
        idp.delay_s = 2.0
        waited: dict[str, httpx.Response] = {}
        start = time.monotonic()
        waiter = threading.Thread(target=lambda: waited.update(r=state(srv, idp.token("rsa-2"))))
        waiter.start()
        time.sleep(0.3)  # the fetch is under way
        for ask in (lambda: httpx.get(f"{srv.url}/healthz"), lambda: state(srv, known)):
            asked = time.monotonic()
            assert ask().status_code == 200
            assert time.monotonic() - asked < 1.0, "a request waited for another token's key fetch"
        waiter.join(10)
        assert waited["r"].status_code == 200  # the waiting token got its key
        assert time.monotonic() - start >= 2.0
    idp.http.shutdown()


def test_an_oversized_key_set_is_refused_and_the_keys_held_stay(tmp_path: Path) -> None:
    idp = Provider()
    idp.add("rsa-1", "RS256")
    with running_server(tmp_path / "data", env=_refetching(idp)) as srv:
        idp.add("rsa-2", "RS256")
        idp.padding = 2 << 20  # 2 MiB: more than any real key set
        assert refused(state(srv, idp.token("rsa-2")))
        assert state(srv, idp.token("rsa-1")).status_code == 200
        assert "larger than" in srv.log_path.read_text()
    idp.http.shutdown()


@pytest.mark.parametrize("answer", [b"[]", b"null", b"5", b"not json"])
def test_a_key_set_that_is_not_a_json_object_is_refused_and_the_server_runs(tmp_path: Path, answer: bytes) -> None:
    idp = Provider()
    idp.add("rsa-1", "RS256")
    idp.body = answer  # at startup already: the server starts all the same
    with running_server(tmp_path / "data", env=_refetching(idp)) as srv:
        assert refused(state(srv, idp.token("rsa-1")))  # an unknown kid, fetched again: 401, not 500
        idp.body = None
        assert state(srv, idp.token("rsa-1")).status_code == 200
    idp.http.shutdown()
