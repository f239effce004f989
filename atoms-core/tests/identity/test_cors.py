"""``cors_origins`` over real HTTP: preflights and response headers on every API route for a listed
origin (the short paths, SSE and commands, too); nothing at all for an unlisted one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from servers import AtomsServer, running_server

APP = "http://app.example:5173"
ROUTES = [("POST", "/v1/tickets"), ("POST", "/v1/revocations"), ("GET", "/v1/streams/canvas:c/events"),
          ("POST", "/v1/streams/canvas:c/commands"), ("GET", "/v1/streams/canvas:c/state"),
          ("GET", "/v1/streams/canvas:c/history"), ("POST", "/v1/artifacts"), ("GET", "/v1/artifacts/a1"),
          ("PUT", "/v1/artifacts/a1/content")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    env = {"ATOMS_CORS_ORIGINS": f'["{APP}"]'}
    with running_server(tmp_path_factory.mktemp("cors") / "data", env=env) as srv:
        yield srv


def preflight(server: AtomsServer, method: str, path: str, origin: str) -> httpx.Response:
    return httpx.options(server.url + path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type"})


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_listed_origin_gets_preflight_and_response_headers(server: AtomsServer, method: str, path: str) -> None:
    response = preflight(server, method, path, APP)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert method in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    # the actual request (refused here for want of a token) still carries the header a browser needs
    actual = httpx.request(method, server.url + path, headers={"Origin": APP})
    assert actual.status_code in (401, 404) and actual.headers["access-control-allow-origin"] == APP


@pytest.mark.parametrize(("method", "path"), ROUTES[:4])
def test_an_unlisted_origin_gets_no_cors_headers(server: AtomsServer, method: str, path: str) -> None:
    response = preflight(server, method, path, "http://evil.example")
    assert response.status_code == 405  # no preflight answer: a plain OPTIONS, which no route takes
    assert not any(name.startswith("access-control-") for name in response.headers)
    actual = httpx.request(method, server.url + path, headers={"Origin": "http://evil.example"})
    assert not any(name.startswith("access-control-") for name in actual.headers)


def test_no_origins_by_default(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_server(tmp_path_factory.mktemp("nocors") / "data") as srv:
        response = preflight(srv, "POST", "/v1/tickets", APP)
        assert "access-control-allow-origin" not in response.headers


def test_a_malformed_origin_is_a_config_error() -> None:
    from atoms_core.config.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match="cors_origins"):
        load_settings(environ={"ATOMS_CORS_ORIGINS": '["https://app.example/path"]'})
