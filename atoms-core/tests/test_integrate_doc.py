"""docs/integrate.md as an app team would follow it: a server started with the page's own config,
tokens minted by its Python and Node snippets as written, and every TOML block it shows loaded by the
config layer ``atoms serve --config`` uses."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from servers import AtomsServer, running_server
from streams_api import problem

DOC = (Path(__file__).resolve().parents[2] / "docs" / "integrate.md").read_text()
KEY = secrets.token_urlsafe(32)
GRANTED, ELSEWHERE = "canvas:board-7", "canvas:board-8"


def blocks(lang: str, under: str = "") -> list[str]:
    section = DOC[DOC.index(under):] if under else DOC
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


def key_variable() -> str:
    """The environment variable the page's config reads the shared key from."""
    match = re.search(r'jwt_keys = \{ [\w-]+ = "secret://env/(\w+)" \}', blocks("toml")[0])
    assert match, "the first config block no longer names its key as secret://env/NAME"
    return match.group(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtomsServer]:
    """``atoms serve --config`` with section 1's config block as printed, its key in the environment."""
    root = tmp_path_factory.mktemp("integrate")
    (root / "atoms.toml").write_text(blocks("toml")[0])
    with running_server(root / "data", env={key_variable(): KEY}, args=["--config", str(root / "atoms.toml")]) as srv:
        yield srv


def test_the_key_variable_of_the_config_block_is_not_taken_for_a_mistyped_setting(server: AtomsServer) -> None:
    """An ``ATOMS_*`` name would be warned about at every start as an unknown setting ("a typo?")."""
    assert key_variable() not in server.log_path.read_text()


def test_every_toml_block_loads(tmp_path: Path) -> None:
    from atoms_core.config.settings import load_settings

    found = blocks("toml")
    assert len(found) >= 5  # identity, role_scopes, Auth0, Keycloak, CORS
    for i, text in enumerate(found):
        (tmp_path / f"{i}.toml").write_text(text)
        load_settings(tmp_path / f"{i}.toml", environ={})  # raises ConfigError naming the bad key


def check_token(server: AtomsServer, token: str) -> None:
    """An editor granted read and presence on one canvas: it reads that canvas (and gets a ticket for it),
    may not write it (the grant lacks write), and reaches no other stream."""
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/v1/streams/{GRANTED}/state", headers=bearer).status_code == 200
    ticket = httpx.post(f"{server.url}/v1/tickets", json={"stream_id": GRANTED, "scopes": ["read", "presence"]},
                        headers=bearer)
    assert ticket.status_code == 201, ticket.text
    command = {"command_id": "c1", "type": "log.append", "stream_id": GRANTED,
               "payload": {"level": "info", "message": "hi"}}
    problem(httpx.post(f"{server.url}/v1/streams/{GRANTED}/commands", json=command, headers=bearer), 403,
            "not_granted")
    problem(httpx.get(f"{server.url}/v1/streams/{ELSEWHERE}/state", headers=bearer), 403, "not_granted")
    problem(httpx.post(f"{server.url}/v1/tickets", json={"stream_id": ELSEWHERE}, headers=bearer), 403,
            "not_granted")


def test_the_python_snippet_mints_a_token_the_server_accepts(server: AtomsServer, tmp_path: Path) -> None:
    (tmp_path / "app_tokens.py").write_text(blocks("python", "### Python")[0])
    call = f"from app_tokens import atoms_token; print(atoms_token('user-42', 'acme', ['editor'], {{{GRANTED!r}: " \
           "['read', 'presence']}))"
    result = subprocess.run([sys.executable, "-c", call], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                            env={**os.environ, key_variable(): KEY})
    assert result.returncode == 0, result.stderr
    check_token(server, result.stdout.strip())


def test_the_node_snippet_mints_a_token_the_server_accepts(server: AtomsServer, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("no node")
        pytest.skip("no node")
    (tmp_path / "app_tokens.mjs").write_text(blocks("js", "### Node")[0])
    call = f"import {{ atomsToken }} from './app_tokens.mjs';\n" \
           f"console.log(await atomsToken('user-42', 'acme', ['editor'], {{ '{GRANTED}': ['read', 'presence'] }}));"
    result = subprocess.run([node, "--input-type=module", "-e", call], cwd=tmp_path, capture_output=True,
                            text=True, timeout=30, env={**os.environ, key_variable(): KEY})
    assert result.returncode == 0, result.stderr
    check_token(server, result.stdout.strip())
