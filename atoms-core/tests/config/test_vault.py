"""VaultLoader providers: env, file, and HashiCorp Vault KV v2 against a real OpenBao dev server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import hvac
import pytest

from atoms_core.config.vault import Secret, SecretError, VaultLoader
from servers import running_server
from vault_server import ROOT_TOKEN, bao_dev_server


@pytest.fixture(scope="module")
def vault() -> Iterator[str]:
    with bao_dev_server() as addr:
        client = hvac.Client(url=addr, token=ROOT_TOKEN)
        for _ in range(50):
            try:
                if client.sys.is_initialized():
                    break
            except Exception:
                time.sleep(0.1)
        client.secrets.kv.v2.create_or_update_secret(path="atoms/jwt", secret={"dev": "vault-signing-key-" + "v" * 30},
                                                     mount_point="secret")
        yield addr


def test_env_and_file_providers(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("file-value\n")
    loader = VaultLoader(tmp_path, environ={"MY_KEY": "env-value"})
    assert loader.resolve("secret://env/MY_KEY").reveal() == "env-value"
    assert loader.resolve("secret://file/k").reveal() == "file-value"
    assert repr(loader.resolve("secret://env/MY_KEY")) == "Secret('**********')"
    assert "env-value" not in str(loader.resolve("secret://env/MY_KEY"))


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        ("secret://env/MISSING", "MISSING"),
        ("secret://file/absent", "absent"),
        ("secret://file/../../etc/passwd", "escapes"),
        ("secret://nope/x", "unknown secret provider"),
        ("secret://vault/atoms/jwt", "#<key>"),
    ],
)
def test_errors_name_the_reference(tmp_path: Path, reference: str, fragment: str) -> None:
    with pytest.raises(SecretError, match=fragment) as info:
        VaultLoader(tmp_path, environ={}).resolve(reference)
    assert reference.split("#")[0][:20] in str(info.value) or fragment in str(info.value)


def test_vault_kv2_read(vault: str, tmp_path: Path) -> None:
    loader = VaultLoader(tmp_path, environ={"VT": ROOT_TOKEN}, vault_addr=vault, vault_token="secret://env/VT")
    secret = loader.resolve("secret://vault/atoms/jwt#dev")
    assert isinstance(secret, Secret) and secret.reveal().startswith("vault-signing-key-")
    with pytest.raises(SecretError) as missing:
        loader.resolve("secret://vault/atoms/jwt#other")
    assert "secret://vault/atoms/jwt#other" in str(missing.value) and "vault-signing" not in str(missing.value)
    with pytest.raises(SecretError, match="vault read failed"):
        loader.resolve("secret://vault/atoms/absent#dev")


def test_server_signs_with_a_vault_key(vault: str, tmp_path: Path) -> None:
    env = {"ATOMS_VAULT_ADDR": vault, "ATOMS_VAULT_TOKEN": "secret://env/BAO_TOKEN", "BAO_TOKEN": ROOT_TOKEN,
           "ATOMS_JWT_KEYS": '{"dev": "secret://vault/atoms/jwt#dev"}'}
    with running_server(tmp_path / "data", env=env) as server:
        token = server.token()
        response = httpx.post(f"{server.url}/v1/tickets", json={"stream_id": "canvas:v"},
                              headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201
        assert not (tmp_path / "data" / "secrets" / "jwt-dev.key").exists()  # no dev key was made
