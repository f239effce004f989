"""Config layers: defaults < TOML < ATOMS_* env < CLI; clear errors; no .env ever read."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from atoms_core.config.settings import ConfigError, Settings, load_settings
from servers import ATOMS


def test_layers_override_in_order(tmp_path: Path) -> None:
    toml = tmp_path / "atoms.toml"
    toml.write_text('port = 7001\nmax_batch = 7\n[sse]\nheartbeat_s = 3.5\nretry_ms = 900\n')
    env = {"ATOMS_PORT": "7002", "ATOMS_SSE_RETRY_MS": "800"}
    settings = load_settings(toml, cli={"port": 7003}, environ=env)
    assert settings.port == 7003  # CLI beats env
    assert settings.sse_retry_ms == 800  # env beats TOML
    assert settings.sse_heartbeat_s == 3.5 and settings.max_batch == 7  # TOML beats defaults
    assert settings.ticket_ttl_s == Settings().ticket_ttl_s  # defaults remain


def test_config_file_from_environment(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('engine = "memory"\n')
    assert load_settings(environ={"ATOMS_CONFIG": str(toml)}).engine == "memory"


def test_list_and_dict_values_from_env() -> None:
    settings = load_settings(environ={"ATOMS_SIDECAR_URI_SCHEMES": "https,s3",
                                      "ATOMS_JWT_KEYS": '{"a": "secret://env/A"}'})
    assert settings.sidecar_uri_schemes == ["https", "s3"]
    assert settings.jwt_keys == {"a": "secret://env/A"}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ATOMS_PORT": "eighty"}, "port"),
        ({"ATOMS_ENGINE": "mongo"}, "engine"),
        ({"ATOMS_JWT_LEEWAY_S": "300"}, "jwt_leeway_s"),
        ({"ATOMS_JWT_ALGORITHMS": "none"}, "jwt_algorithms"),
        ({"ATOMS_AUTHZ_URL": "localhost:9000/authz"}, "authz_url"),
        ({"ATOMS_ROLE_SCOPES": '{"viewer": ["read", "delete"]}'}, "role_scopes"),
        ({"ATOMS_DEFAULT_SCOPES": "read,everything"}, "default_scopes"),
    ],
)
def test_bad_values_are_clear_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


def test_unknown_env_variable_is_a_warning_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    """The environment is shared with other tools (the shared bench sets ATOMS_REPO)."""
    with caplog.at_level(logging.WARNING, logger="atoms.config"):
        settings = load_settings(environ={"ATOMS_REPO": "/src/atoms", "ATOMS_PORT": "7003"})
    assert settings.port == 7003
    assert "ATOMS_REPO" in caplog.text


def test_unknown_toml_key_and_missing_file(tmp_path: Path) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text("hearbeat = 1\n")
    with pytest.raises(ConfigError, match="hearbeat"):
        load_settings(toml, environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_env_file_in_working_directory_is_ignored(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ATOMS_PORT=9999\nATOMS_ENGINE=memory\nPORT=9999\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATOMS_")}
    out = subprocess.run([ATOMS, "config", "show", "--data-dir", str(tmp_path / "d")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)
    shown = json.loads(out.stdout)
    assert shown["port"] == 8000 and shown["engine"] == "sqlite"


def test_config_show_redacts_secrets(tmp_path: Path) -> None:
    env = {**os.environ, "ATOMS_VAULT_TOKEN": "s.super-secret-token", "ATOMS_S3_SECRET_ACCESS_KEY": "AKIAxyz",
           "ATOMS_REDIS_URL": "redis://:hunter2@127.0.0.1:6379/0"}
    out = subprocess.run([ATOMS, "config", "show", "--data-dir", str(tmp_path)], env=env,
                         capture_output=True, text=True, check=True).stdout
    for secret in ("super-secret-token", "AKIAxyz", "hunter2"):
        assert secret not in out
    shown = json.loads(out)
    assert shown["jwt_keys"] == {"dev": "secret://file/jwt-dev.key"}  # references are not secrets
    assert shown["vault_token"] == "**********"


def test_cli_reports_config_errors_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "ATOMS_PORT": "eighty"}
    out = subprocess.run([ATOMS, "config", "show"], env=env, capture_output=True, text=True)
    assert out.returncode == 2 and "port" in out.stderr and "Traceback" not in out.stderr
