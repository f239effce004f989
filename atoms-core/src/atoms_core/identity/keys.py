"""Signing keys: identity JWT keys by ``kid`` and the ticket key, all resolved through the VaultLoader.

Dev keys are created on first use in the data dir's ``secrets/`` folder (mode 0600) when the
configuration points at ``secret://file/...`` references that do not exist yet; they are then read
back through the file provider like any other secret.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from atoms_core.config.settings import SECRET_PREFIX, Settings
from atoms_core.config.vault import Secret, VaultLoader

FILE_PREFIX = SECRET_PREFIX + "file/"


@dataclass(frozen=True)
class KeyRing:
    jwt_keys: dict[str, Secret]
    signing_kid: str
    ticket_key: Secret


def ensure_dev_secret(loader: VaultLoader, reference: str) -> None:
    """Create a random key for a missing ``secret://file/`` reference (0600), else do nothing."""
    if not reference.startswith(FILE_PREFIX):
        return
    path = loader.file_path(reference[len(FILE_PREFIX):])
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))


def load_keyring(settings: Settings, loader: VaultLoader) -> KeyRing:
    for reference in [*settings.jwt_keys.values(), settings.ticket_key]:
        ensure_dev_secret(loader, reference)
    jwt_keys = {kid: loader.resolve(ref) for kid, ref in settings.jwt_keys.items()}
    return KeyRing(jwt_keys, settings.jwt_signing_kid, loader.resolve(settings.ticket_key))
