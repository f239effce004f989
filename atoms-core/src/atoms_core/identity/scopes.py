"""What an identity may do on a stream: its roles' scopes, limited by its ``grants`` claim.

The one place scopes are resolved, for stream routes, tickets and tenant-level routes alike, and the
one parser of the ``grants`` claim (a malformed claim is a 401 ``invalid_token``, never a guess).
"""

from __future__ import annotations

import re

from atoms_core.config.settings import Settings
from atoms_core.protocol.errors import AtomsError, Unauthorized
from atoms_core.protocol.principal import ALL_SCOPES, Identity, StreamGrant
from atoms_core.protocol.streams import parse_stream_id

#: Entries one ``grants`` claim may hold: matching is a walk over them on each bearer request.
MAX_GRANTS = 256
#: ``*``, ``canvas:*`` or ``canvas:team-42-*``: a stream id cut short, then the star.
PREFIX_PATTERN = re.compile(r"(?:(?:thread|canvas|run):(?:[A-Za-z0-9][A-Za-z0-9._-]{0,126})?)?\*")


def _invalid(what: str) -> Unauthorized:
    return Unauthorized("invalid_token", f"token claim grants {what}")


def _is_stream_id(value: str) -> bool:
    try:
        return parse_stream_id(value) == value
    except AtomsError:
        return False


def _entry(pattern: object, scopes: object) -> StreamGrant:
    if not isinstance(pattern, str):
        raise _invalid("keys must be strings")
    prefix = PREFIX_PATTERN.fullmatch(pattern) is not None
    if not prefix and not _is_stream_id(pattern):
        raise _invalid("keys must be stream ids (canvas:<id>) or prefixes ending in * (canvas:team-*)")
    if (not isinstance(scopes, list) or len(scopes) > len(ALL_SCOPES)
            or not all(isinstance(s, str) and s in ALL_SCOPES for s in scopes)):
        raise _invalid(f"values must be lists of scopes ({', '.join(sorted(ALL_SCOPES))})")
    return StreamGrant(pattern[:-1] if prefix else pattern, prefix, frozenset(scopes))


def parse_grants(value: object) -> tuple[StreamGrant, ...]:
    """The ``grants`` claim: an object from a stream id or ``prefix*`` to a list of scopes."""
    if not isinstance(value, dict):
        raise _invalid("must be an object from stream id or prefix* to a list of scopes")
    if len(value) > MAX_GRANTS:
        raise _invalid(f"may hold at most {MAX_GRANTS} entries")
    return tuple(_entry(pattern, scopes) for pattern, scopes in value.items())


def role_scopes(identity: Identity, settings: Settings) -> frozenset[str]:
    """The union over the identity's known roles (an unknown role grants nothing); ``default_scopes``
    for a token with no ``roles`` or an empty list."""
    if not identity.roles:
        return frozenset(settings.default_scopes)
    table = settings.role_scopes
    return frozenset(scope for role in identity.roles for scope in table.get(role, ()))


def scopes_for(identity: Identity, stream_id: str | None, settings: Settings) -> frozenset[str]:
    """The identity's scopes on ``stream_id``; on None (a tenant-level route) its roles' scopes, minus
    the stream scopes when ``grants`` limits it to some streams."""
    scopes = role_scopes(identity, settings)
    grants = identity.grants
    if grants is None:
        return scopes
    if stream_id is None:
        return scopes - ALL_SCOPES
    granted: set[str] = set()
    for grant in grants:
        if grant.matches(stream_id):
            granted |= grant.scopes
    return scopes & granted
