"""Every stable code of the protocol in one table each: problem codes (HTTP), WebSocket close codes
(with what a client should do after each), WebSocket ``error`` codes and resync reasons (SSE).

``app/schemas.py`` exports these tables to ``docs/schemas``, from which atoms-ui generates its own, so
the server, the Python client and the browser client read the same rules.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import NamedTuple

#: Every stable problem ``code`` the service emits, with its HTTP status and a short title.
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
    "wrong_stream": (403, "Ticket is for another stream"),
    "missing_scope": (403, "Ticket lacks the needed scope"),
    "not_granted": (403, "Identity has no such scope on this stream"),
    "authz_denied": (403, "The app's authorization callback refused"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "version_conflict": (409, "Version conflict"),
    "token_gap": (409, "Token index gap"),
    "too_many_revocations": (409, "The tenant holds too many revocations"),
    "body_too_large": (413, "Body too large"),
    "batch_too_large": (413, "Batch too large"),
    "patch_too_large": (413, "Patch too large to apply in one command"),
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
    "too_many_openings": (429, "Too many stream openings not yet read"),
    "store_unavailable": (503, "Store unavailable"),
    "authz_unavailable": (503, "Authorization callback unavailable"),
    "internal_error": (500, "Internal error"),
}


class CloseCode(IntEnum):
    """The close codes a presence WebSocket ends with (RFC 6455 §7.4, and private-use codes from 4000)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    ABNORMAL = 1006
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_LATER = 1013
    PONG_TIMEOUT = 4000
    CREDENTIALS_EXPIRED = 4001
    TOKEN_REVOKED = 4003


class CloseRule(NamedTuple):
    reconnect: bool  # False: the same client would be closed the same way again (fatal)
    meaning: str


#: What each close code means here and whether a client reconnects after it. A code not listed
#: (a newer server, a proxy) reconnects: presence is ephemeral, and backoff bounds the retries.
CLOSE_RULES: dict[CloseCode, CloseRule] = {
    CloseCode.NORMAL: CloseRule(True, "closed on purpose (a client that is done; the server never sends it)"),
    CloseCode.GOING_AWAY: CloseRule(True, "silent for ws_idle_timeout_s: the server removed the peer"),
    CloseCode.ABNORMAL: CloseRule(True, "no close frame (network drop, or a handshake a browser saw refused)"),
    CloseCode.POLICY: CloseRule(False, "ws_max_violations refused frames, or a handshake refused without "
                                       "an HTTP answer (the reason is the problem code)"),
    CloseCode.TOO_BIG: CloseRule(False, "a frame over ws_max_frame_bytes"),
    CloseCode.INTERNAL_ERROR: CloseRule(True, "the server's WebSocket layer failed (keepalive timeout, a bug)"),
    CloseCode.SERVICE_RESTART: CloseRule(True, "the server is shutting down (SIGTERM); another node or the "
                                               "restarted one takes the reconnect"),
    CloseCode.TRY_LATER: CloseRule(True, "room full (ws_max_peers) or slow consumer (over ws_queue_bytes)"),
    CloseCode.PONG_TIMEOUT: CloseRule(True, "sent by a client that got no pong in time; it reconnects"),
    CloseCode.CREDENTIALS_EXPIRED: CloseRule(True, "the ticket or identity expired (exp plus jwt_leeway_s): "
                                                   "reconnect with a fresh ticket"),
    CloseCode.TOKEN_REVOKED: CloseRule(False, "an admin revoked the principal (POST /v1/revocations): "
                                              "sign in again for a new token"),
}


def reconnects_after(code: int | None) -> bool:
    """Whether a client should reconnect after the socket closed with ``code`` (None: no code at all)."""
    if code is None:
        return True
    try:
        return CLOSE_RULES[CloseCode(code)].reconnect
    except ValueError:  # a code this table does not know
        return True


class WsErrorCode(StrEnum):
    """The ``code`` of a WebSocket ``error`` frame: why the server dropped a client frame."""

    WS_EPHEMERAL_ONLY = "ws_ephemeral_only"
    BAD_FRAME = "bad_frame"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"


WS_ERROR_MEANINGS: dict[WsErrorCode, str] = {
    WsErrorCode.WS_EPHEMERAL_ONLY: "a type this socket does not carry (durable changes go to the commands "
                                   "route); a violation",
    WsErrorCode.BAD_FRAME: "not a JSON object with a string type, a binary frame, or an invalid message; "
                           "a violation",
    WsErrorCode.RATE_LIMITED: "gestures beyond ws_gesture_per_s are dropped (at most one notice a second); "
                              "not a violation",
    WsErrorCode.TOO_LARGE: "a presence state over ws_presence_max_bytes; a violation",
}


class ResyncReason(StrEnum):
    """Why an SSE stream sends ``resync`` (a fresh ``state_snapshot`` follows)."""

    HISTORY_PRUNED = "history_pruned"
    AHEAD_OF_HEAD = "ahead_of_head"
    HISTORY_LOST = "history_lost"


RESYNC_MEANINGS: dict[ResyncReason, str] = {
    ResyncReason.HISTORY_PRUNED: "the events after Last-Event-ID are no longer retained",
    ResyncReason.AHEAD_OF_HEAD: "Last-Event-ID is past the stream's head (the store was reset or restored)",
    ResyncReason.HISTORY_LOST: "the store lost events this node had served; its cache was rebuilt",
}
