"""Typed settings and their layering: defaults < TOML file < ``ATOMS_*`` environment < CLI flags.

Every limit of the contract has a key here; ``docs/operations.md`` lists them with their defaults.
No ``.env`` file is ever read.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SECRET_PREFIX = "secret://"
ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?")

log = logging.getLogger("atoms.config")


class ConfigError(ValueError):
    """Raised for an invalid configuration; the message names the key and the layer."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # server
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("./atoms-data")
    engine: Literal["memory", "sqlite", "redis"] = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL"
    allow_empty_store: bool = False  # start although timeline.db is missing, empty or another data dir's
    audit_buffer_bytes: int = Field(default=8 * 1024 * 1024, ge=4096)  # unwritten audit records kept
    demo: bool = False
    demo_dist: str = ""  # built atoms-app served by --demo; "" = atoms-app/dist beside atoms-core
    demo_max_agents: int = Field(default=32, ge=0)  # --demo: canvases with a running demo agent
    #: Browser origins (``https://app.example.com``) allowed to call the API cross-origin; none by default.
    revocations_per_tenant: int = Field(default=10_000, ge=1)  # POST /v1/revocations kept per tenant
    cors_origins: list[str] = []
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    node_id: str = ""

    # identity
    jwt_issuer: str = "atoms-dev"
    jwt_audience: str = "atoms"
    jwt_algorithms: list[Literal["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"]] = ["HS256"]
    jwt_leeway_s: int = Field(default=10, ge=0, le=30)
    #: An identity token whose ``exp`` is further ahead than this is refused (401), not trusted for ages.
    jwt_max_ttl_s: int = Field(default=30 * 86400, ge=1)
    jwt_keys: dict[str, str] = {"dev": "secret://file/jwt-dev.key"}
    jwt_signing_kid: str = "dev"
    #: An identity provider's JWKS (``https://<idp>/.well-known/jwks.json``); keys by ``kid`` beside jwt_keys.
    jwt_jwks_url: str = ""
    jwt_jwks_max_age_s: float = Field(default=300.0, gt=0)  # the fetched set is refreshed after this
    jwt_jwks_min_refetch_s: float = Field(default=10.0, ge=0)  # an unknown kid refetches at most this often
    #: The identity token claim that names the tenant (an IdP's custom claim, e.g. ``https://app/tenant``).
    tenant_claim: str = Field(default="tenant_id", min_length=1, max_length=256)
    ticket_key: str = "secret://file/ticket.key"
    ticket_ttl_s: int = Field(default=60, ge=1)
    ticket_max_ttl_s: int = Field(default=300, ge=1)
    #: A token's scopes: the union over its roles' entries (an unknown role grants nothing), or
    #: ``default_scopes`` when it has no ``roles``; a ``grants`` claim then limits them per stream.
    role_scopes: dict[str, list[Literal["read", "write", "presence", "admin"]]] = {
        "admin": ["read", "write", "presence", "admin"],
        "editor": ["read", "write", "presence"],
        "viewer": ["read", "presence"],
    }
    default_scopes: list[Literal["read", "write", "presence", "admin"]] = ["read", "write", "presence"]
    #: The app's backend asked before a ticket is issued or a bearer acts on a stream ("" = not asked).
    authz_url: str = Field(default="", pattern=r"^(https?://\S+)?$")
    authz_timeout_s: float = Field(default=2.0, gt=0, le=30)
    authz_cache_s: float = Field(default=30.0, ge=0)
    authz_cache_entries: int = Field(default=10_000, ge=1)

    # commands and timeline
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_batch: int = Field(default=100, ge=1)
    history_retention: int = Field(default=10_000, ge=10)
    snapshot_every: int = Field(default=1_000, ge=0)
    state_cache_partitions: int = Field(default=10_000, ge=1)
    state_max_depth: int = Field(default=128, ge=2, le=512)  # JSON encoders give up near 1000
    state_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)  # one stream's state, compact JSON
    state_patch_max_ops: int = Field(default=1_000, ge=1)
    state_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)  # all cached states, compact JSON

    # SSE
    sse_heartbeat_s: float = Field(default=15.0, gt=0)
    sse_retry_ms: int = Field(default=2_000, ge=0)
    sse_queue_bytes: int = Field(default=1_048_576, ge=1024)
    sse_replay_page: int = Field(default=500, ge=1)
    # Open connections on this process (429 beyond). Sized for service principals: agents, and the shared
    # bench, which holds 5,000 SSE readers as one principal.
    sse_max_per_principal: int = Field(default=10_000, ge=1)
    sse_max_per_tenant: int = Field(default=20_000, ge=1)
    # state_snapshot frames still being written, shared by the streams opening at one seq (429 beyond).
    sse_opening_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    sse_opening_tenant_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    sse_opening_principal_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    # WebSocket
    ws_max_frame_bytes: int = Field(default=16_384, ge=256)
    ws_presence_max_bytes: int = Field(default=4_096, ge=64)
    ws_cursor_hz: float = Field(default=30.0, gt=0, le=240)
    ws_gesture_per_s: float = Field(default=60.0, gt=0)
    ws_max_peers: int = Field(default=200, ge=1)
    ws_idle_timeout_s: float = Field(default=30.0, gt=0)
    ws_max_violations: int = Field(default=5, ge=1)
    ws_queue_bytes: int = Field(default=262_144, ge=4096)  # per-peer outbox; overflow closes with 1013
    ws_max_per_principal: int = Field(default=32, ge=1)  # open sockets on this process (429 beyond)
    ws_max_per_tenant: int = Field(default=10_000, ge=1)

    # sidecars and artifacts
    sidecar_uri_schemes: list[str] = ["https", "s3", "artifact"]
    sidecar_max_depth: int = Field(default=32, ge=2)
    sidecar_max_base64_chars: int = Field(default=256, ge=16)
    artifact_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    artifact_url_ttl_s: int = Field(default=300, ge=1)
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""

    # atoms agent (the model it answers with)
    agent_provider: Literal["demo", "openai", "anthropic"] = "demo"
    agent_model: str = ""
    agent_api_key: str = ""  # a secret:// reference; "" = the SDK's own OPENAI_API_KEY / ANTHROPIC_API_KEY
    agent_base_url: str = ""  # "" = the SDK's default, or its OPENAI_BASE_URL / ANTHROPIC_BASE_URL
    agent_openai_api: Literal["chat", "responses"] = "chat"
    agent_max_output: int = Field(default=1024, ge=1)  # the longest answer, in tokens

    # vault (HashiCorp Vault / OpenBao KV v2)
    vault_addr: str = ""
    vault_token: str = ""
    vault_mount: str = "secret"

    @field_validator("agent_api_key")
    @classmethod
    def _reference(cls, value: str) -> str:
        if value and not value.startswith(SECRET_PREFIX):
            raise ValueError(f"must be a {SECRET_PREFIX} reference (or empty for the SDK's own variable)")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin[:80]!r} is not an origin (scheme://host[:port], no path)")
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"


FIELDS = Settings.model_fields


def _coerce_env(key: str, raw: str) -> Any:
    """Env values are strings; lists and dicts are given as JSON, or lists as comma-separated."""
    annotation = str(FIELDS[key].annotation)
    if annotation.startswith(("list", "dict")):
        import json

        raw = raw.strip()
        if raw.startswith(("[", "{")):
            return json.loads(raw)
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    """``ATOMS_<KEY>`` variables. An unknown one is a warning, not an error: the environment is
    shared with other tools (a benchmark harness's ``ATOMS_REPO``, say), unlike our TOML file."""
    layer: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith("ATOMS_") or name == "ATOMS_CONFIG":
            continue
        key = name[len("ATOMS_"):].lower()
        if key not in FIELDS:
            log.warning("ignoring %s: not an atoms setting (a typo?)", name)
            continue
        layer[key] = _coerce_env(key, raw)
    return layer


def toml_layer(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc
    flat: dict[str, Any] = {}
    for key, value in data.items():
        # Sections are a readability aid: [sse] heartbeat_s = 5 is sse_heartbeat_s.
        if isinstance(value, dict) and key not in FIELDS:
            flat.update({f"{key}_{inner}": inner_value for inner, inner_value in value.items()})
        else:
            flat[key] = value
    unknown = sorted(set(flat) - set(FIELDS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown keys {', '.join(unknown)}")
    return flat


def load_settings(
    config_file: str | Path | None = None,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge the layers; the later layer wins key by key."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    path = config_file or environ.get("ATOMS_CONFIG")
    if path:
        merged.update(toml_layer(Path(path)))
    merged.update(env_layer(environ))
    merged.update({k: v for k, v in (cli or {}).items() if v is not None})
    try:
        return Settings(**merged)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc
