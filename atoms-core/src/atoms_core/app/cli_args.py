"""Argument types of the ``atoms`` command: each refuses a bad value with a usage error (exit 2)."""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime
from urllib.parse import urlsplit

from atoms_core.protocol.errors import AtomsError
from atoms_core.protocol.streams import parse_stream_id

#: Longest identity token ``atoms token`` mints (30 days).
MAX_TTL_S = 30 * 24 * 3600
#: Longest tenant or principal name.


def stream_id(value: str) -> str:
    """A prefixed stream id such as ``canvas:demo``."""
    try:
        return parse_stream_id(value)
    except AtomsError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc.detail}") from None


def base_url(value: str) -> str:
    """A server's base URL, ``http(s)://host[:port][/prefix]`` (a client would retry anything else forever)."""
    parts = urlsplit(value)
    try:
        ok = (parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
              and not parts.query and not parts.fragment)
    except ValueError:  # a port outside 0-65535
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s)://host[:port] URL, e.g. http://127.0.0.1:8000")
    return value


def tenant_id(value: str) -> str:
    """A tenant id as identity tokens carry it (``identity.principal``)."""
    from atoms_core.protocol.ids import TENANT_ID
    from atoms_core.protocol.principal import is_tenant_id

    if not is_tenant_id(value):
        raise argparse.ArgumentTypeError(f"{value!r}: a tenant id matches {TENANT_ID.pattern} (not sha256-<hex>)")
    return value


def principal_id(value: str) -> str:
    """A principal id as identity tokens carry it (``identity.principal``)."""
    from atoms_core.protocol.principal import is_principal_id

    if not is_principal_id(value):
        raise argparse.ArgumentTypeError(f"{value!r}: a principal id is 1-256 of A-Z a-z 0-9 . _ ~ @ : | / + = - "
                                         "and inner spaces")
    return value


def grant(value: str) -> tuple[str, list[str]]:
    """``STREAM=SCOPES`` of ``atoms token --grant``: a stream id or ``prefix*``, and comma-separated scopes."""
    from atoms_core.identity.scopes import parse_grants

    pattern, sep, scopes = value.partition("=")
    entry = (pattern, [s for s in scopes.split(",") if s])
    try:
        if not sep:
            raise AtomsError("bad_request", "give STREAM=SCOPES, e.g. canvas:team-42-*=read,presence")
        parse_grants(dict([entry]))
    except AtomsError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc.detail}") from None
    return entry


def ttl_seconds(value: str) -> int:
    """A token lifetime: whole seconds, 1 to 30 days."""
    try:
        ttl = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of seconds") from None
    if not 0 < ttl <= MAX_TTL_S:
        raise argparse.ArgumentTypeError(f"{ttl} is outside 1 … {MAX_TTL_S} seconds")
    return ttl


def seconds(value: str) -> float:
    """A non-negative, finite number of seconds."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be a finite number ≥ 0")
    return number


def iso_timestamp(value: str) -> str:
    """An ISO 8601 date or time (UTC unless it has an offset), as the audit log writes ``ts``."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 date or time (e.g. 2026-12-01 or 2026-12-01T08:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
