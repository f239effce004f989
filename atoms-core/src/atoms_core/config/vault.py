"""VaultLoader: resolves ``secret://`` references; values never appear in errors or reprs.

- ``secret://env/NAME``            an environment variable
- ``secret://file/NAME``           a file in the data dir's ``secrets/`` folder (or an absolute path)
- ``secret://vault/<path>#<key>``  a HashiCorp Vault (or OpenBao) KV v2 secret, read through ``hvac``
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from atoms_core.config.settings import SECRET_PREFIX


class SecretError(RuntimeError):
    """A reference could not be resolved; the message names the reference, never a value."""


class Secret:
    """A resolved secret whose repr is redacted."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


class VaultLoader:
    def __init__(
        self,
        secrets_dir: Path,
        environ: Mapping[str, str] | None = None,
        vault_addr: str = "",
        vault_token: str = "",
        vault_mount: str = "secret",
    ) -> None:
        self.secrets_dir = secrets_dir
        self.environ = os.environ if environ is None else environ
        self.vault_addr = vault_addr
        self.vault_token = vault_token
        self.vault_mount = vault_mount
        self._vault_client: Any = None

    def resolve(self, reference: str) -> Secret:
        """Resolve ``secret://provider/...``; a plain string is returned as is (not a reference)."""
        if not reference.startswith(SECRET_PREFIX):
            return Secret(reference)
        provider, _, rest = reference[len(SECRET_PREFIX):].partition("/")
        if not rest:
            raise SecretError(f"malformed secret reference {reference!r}")
        if provider == "env":
            return self._from_env(reference, rest)
        if provider == "file":
            return self._from_file(reference, rest)
        if provider == "vault":
            return self._from_vault(reference, rest)
        raise SecretError(f"unknown secret provider {provider!r} in {reference!r}")

    def _from_env(self, reference: str, name: str) -> Secret:
        value = self.environ.get(name)
        if value is None:
            raise SecretError(f"{reference}: environment variable {name} is not set")
        return Secret(value)

    def file_path(self, name: str) -> Path:
        path = Path(name)
        if path.is_absolute():
            return path
        if ".." in path.parts:
            raise SecretError(f"secret://file/{name}: path escapes the secrets folder")
        return self.secrets_dir / path

    def _from_file(self, reference: str, name: str) -> Secret:
        path = self.file_path(name)
        try:
            return Secret(path.read_text().strip())
        except OSError as exc:
            raise SecretError(f"{reference}: cannot read {path} ({exc.strerror})") from None

    def _from_vault(self, reference: str, rest: str) -> Secret:
        path, _, key = rest.partition("#")
        if not key:
            raise SecretError(f"{reference}: a vault reference needs '#<key>'")
        if not self.vault_addr:
            raise SecretError(f"{reference}: vault_addr is not configured")
        import hvac

        if self._vault_client is None:
            token = self.resolve(self.vault_token).reveal() if self.vault_token else None
            self._vault_client = hvac.Client(url=self.vault_addr, token=token)
        try:
            response = self._vault_client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.vault_mount, raise_on_deleted_version=True
            )
        except Exception as exc:  # hvac raises many types; the reference is what matters
            raise SecretError(f"{reference}: vault read failed ({type(exc).__name__})") from None
        data = response.get("data", {}).get("data", {})
        if key not in data:
            raise SecretError(f"{reference}: key {key!r} not found")
        return Secret(str(data[key]))


def loader_for(settings: Any, environ: Mapping[str, str] | None = None) -> VaultLoader:
    return VaultLoader(
        settings.secrets_dir, environ, settings.vault_addr, settings.vault_token, settings.vault_mount
    )


SENSITIVE_WORDS = ("key", "token", "secret", "password")
NOT_SENSITIVE = frozenset({"jwt_signing_kid", "s3_access_key_id"})
MASK = "**********"


def _redact_value(name: str, value: Any) -> Any:
    if isinstance(value, str):
        if value.startswith(SECRET_PREFIX) or not value:
            return value  # a reference names where a secret lives, not the secret
        parts = urlsplit(value)
        if parts.password:
            return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{parts.hostname}"
                                             + (f":{parts.port}" if parts.port else "")))
        if name not in NOT_SENSITIVE and any(word in name for word in SENSITIVE_WORDS):
            return MASK
        return value
    if isinstance(value, dict):
        return {k: _redact_value(name, v) for k, v in value.items()}
    return value


def redacted(settings: Any) -> dict[str, Any]:
    """The effective settings as JSON-able data; secret values (not references) are masked."""
    return {name: _redact_value(name, value) for name, value in settings.model_dump(mode="json").items()}
