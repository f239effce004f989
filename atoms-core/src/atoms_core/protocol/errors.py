"""RFC 9457 problem+json errors with stable codes (the codes themselves: ``protocol/codes.py``).

Exception tree::

    AtomsError                 base; carries status, code, detail, extras
    ├── BadRequest             400 (bad_request, tenant_in_query, invalid_stream_id, ...)
    ├── Unauthorized           401 (unauthenticated, invalid_token, ticket_expired, token_revoked)
    ├── Forbidden              403 (wrong_stream, missing_scope, not_granted, authz_denied)
    ├── NotFound               404 (not_found)
    ├── Conflict               409 (version_conflict, token_gap)
    ├── PayloadTooLarge        413 (body_too_large, batch_too_large, patch_too_large)
    ├── Unprocessable          422 (validation_failed, patch_failed, state_too_deep, state_too_large, sidecar_*)
    ├── TooManyRequests        429 (too_many_connections), sent with Retry-After
    └── Unavailable            503 (store_unavailable, authz_unavailable), sent with Retry-After
"""

from __future__ import annotations

from typing import Any

from atoms_core.protocol.codes import CODES

PROBLEM_BASE = "https://atoms.dev/problems/"


class AtomsError(Exception):
    """An error that maps to one problem+json response."""

    def __init__(self, code: str, detail: str = "", **extras: Any) -> None:
        status, title = CODES[code]
        super().__init__(detail or title)
        self.code = code
        self.status = status
        self.title = title
        self.detail = detail or title
        self.extras = extras

    def to_problem(self) -> dict[str, Any]:
        return {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            **self.extras,
        }


class BadRequest(AtomsError):
    pass


class Unauthorized(AtomsError):
    pass


class Forbidden(AtomsError):
    pass


class NotFound(AtomsError):
    pass


class Conflict(AtomsError):
    pass


class PayloadTooLarge(AtomsError):
    pass


class Unprocessable(AtomsError):
    pass


class TooManyRequests(AtomsError):
    pass


class Unavailable(AtomsError):
    pass
