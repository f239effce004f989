"""RFC 9457 problem+json errors with stable codes.

Exception tree::

    AtomsError                 base; carries status, code, detail, extras
    ├── BadRequest             400 (bad_request, tenant_in_query, invalid_stream_id, ...)
    ├── Unauthorized           401 (unauthenticated, invalid_token, ticket_expired, token_revoked)
    ├── Forbidden              403 (forbidden, wrong_stream, missing_scope, not_granted, authz_denied)
    ├── NotFound               404 (not_found)
    ├── Conflict               409 (version_conflict, token_gap)
    ├── PayloadTooLarge        413 (body_too_large, batch_too_large, patch_too_large)
    ├── Unprocessable          422 (validation_failed, patch_failed, state_too_deep, state_too_large, sidecar_*)
    ├── TooManyRequests        429 (too_many_connections), sent with Retry-After
    └── Unavailable            503 (store_unavailable, authz_unavailable), sent with Retry-After
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://atoms.dev/problems/"

#: Every stable code the service emits, with its HTTP status and a short title.
CODES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "Bad request"),
    "tenant_in_query": (400, "Tenant may not come from the query string"),
    "invalid_stream_id": (400, "Invalid stream id"),
    "invalid_json": (400, "Body is not valid JSON"),
    "unauthenticated": (401, "Authentication required"),
    "invalid_token": (401, "Invalid token"),
    "ticket_expired": (401, "Ticket expired"),
    "token_revoked": (401, "Token revoked"),
    #: Not an HTTP answer: the reason an SSE stream or WebSocket ends when its credentials expire.
    "credentials_expired": (401, "Credentials expired"),
    "forbidden": (403, "Forbidden"),
    "wrong_stream": (403, "Ticket is for another stream"),
    "missing_scope": (403, "Ticket lacks the needed scope"),
    "not_granted": (403, "Identity has no such scope on this stream"),
    "authz_denied": (403, "The app's authorization callback refused"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "version_conflict": (409, "Version conflict"),
    "token_gap": (409, "Token index gap"),
    "body_too_large": (413, "Body too large"),
    "batch_too_large": (413, "Batch too large"),
    "patch_too_large": (413, "Patch too large to apply in one command"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "validation_failed": (422, "Validation failed"),
    "stream_mismatch": (422, "Envelope stream differs from the path"),
    "patch_failed": (422, "Patch does not apply"),
    "state_too_deep": (422, "State would nest too deeply"),
    "state_too_large": (422, "State would exceed its size limit"),
    "sidecar_inline_bytes": (422, "Inline media bytes are refused"),
    "sidecar_missing_ref": (422, "Media value without a ref"),
    "sidecar_bad_uri": (422, "URI scheme not allowed"),
    "sidecar_too_deep": (422, "Payload nested too deeply"),
    "artifact_mismatch": (422, "Uploaded content does not match its registration"),
    "too_many_connections": (429, "Too many open connections"),
    "store_unavailable": (503, "Store unavailable"),
    "authz_unavailable": (503, "Authorization callback unavailable"),
    "internal_error": (500, "Internal error"),
}


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
