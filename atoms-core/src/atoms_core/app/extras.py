"""Optional dependencies: the redis, s3 and vault extras, checked when a configured feature needs one.

The embedded default (SQLite, local artifacts, env/file secrets) needs none of them; each is imported
inside the branch that uses it, and this check turns a missing one into one line naming the extra.
"""

from __future__ import annotations

import importlib.util
import json

from atoms_core.config.settings import ConfigError, Settings

VAULT_REFERENCE = "secret://vault/"


class MissingExtra(ConfigError):
    """A configured feature needs an optional dependency that is not installed."""


def require(module: str, extra: str, feature: str) -> None:
    """Raise ``MissingExtra`` unless ``module`` can be imported."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(f"{feature} needs the {extra!r} extra ({module} is not installed): "
                           f"pip install 'atoms-core[{extra}]'")


def check_extras(settings: Settings) -> None:
    """Every extra the configuration asks for is installed (call before anything starts)."""
    if settings.engine == "redis":
        require("redis", "redis", 'engine = "redis"')
    if settings.s3_bucket:
        require("boto3", "s3", "s3_bucket (S3 artifacts)")
    if settings.vault_addr or VAULT_REFERENCE in json.dumps(settings.model_dump(mode="json")):
        require("hvac", "vault", "a secret://vault/ reference (vault_addr)")
