/**
 * Stable problem `code`s mirrored from atoms-core `errors.py` (CODES) and the WS error
 * codes from `realtime/contracts.py` (WsError). Keep in sync with the server.
 */

export const ERROR_CODES = {
  bad_request: 400,
  tenant_in_query: 400,
  invalid_stream_id: 400,
  invalid_json: 400,
  unauthenticated: 401,
  invalid_token: 401,
  ticket_expired: 401,
  token_revoked: 401,
  credentials_expired: 401,
  forbidden: 403,
  wrong_stream: 403,
  missing_scope: 403,
  not_granted: 403,
  authz_denied: 403,
  not_found: 404,
  method_not_allowed: 405,
  version_conflict: 409,
  token_gap: 409,
  body_too_large: 413,
  batch_too_large: 413,
  patch_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  stream_mismatch: 422,
  patch_failed: 422,
  state_too_deep: 422,
  state_too_large: 422,
  sidecar_inline_bytes: 422,
  sidecar_missing_ref: 422,
  sidecar_bad_uri: 422,
  sidecar_too_deep: 422,
  artifact_mismatch: 422,
  too_many_connections: 429,
  internal_error: 500,
  store_unavailable: 503,
  authz_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export const WS_ERROR_CODES = ['ws_ephemeral_only', 'bad_frame', 'rate_limited', 'too_large'] as const;
export type WsErrorCode = (typeof WS_ERROR_CODES)[number];

/** WebSocket close codes the server ends a socket with when its credentials end: 4001 expired (reconnect
 * with a fresh ticket), 4003 revoked (the next ticket request answers 401 token_revoked). */
export const WS_CLOSE_CREDENTIALS_EXPIRED = 4001;
export const WS_CLOSE_TOKEN_REVOKED = 4003;

/** Codes produced on the client side only (never sent by the server). */
export const CLIENT_ERROR_CODES = {
  /** The request never got an HTTP answer (offline, DNS, reset, aborted by timeout). */
  network_error: 0,
  /** The server answered with something that is not the protocol (bad JSON, wrong content type). */
  protocol_error: 0,
  /** The caller's getToken() rejected. */
  token_error: 0,
} as const;

export type ClientErrorCode = keyof typeof CLIENT_ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

export function isSidecarCode(code: string): boolean {
  return code.startsWith('sidecar_');
}

/** Statuses a client may retry with the same idempotency key. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 0;
}
