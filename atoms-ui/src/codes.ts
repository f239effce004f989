/**
 * The protocol's stable codes, generated from atoms-core's tables (`npm run gen:types` from
 * docs/schemas): problem codes with their HTTP status, WebSocket close codes with whether a client
 * reconnects after each, WebSocket `error` codes, and resync reasons.
 */
import { CLOSE_CODES, PROBLEM_STATUS, RESYNC_REASONS, WS_ERROR_MEANINGS } from './generated/contracts.js';
import type { WsErrorCode } from './generated/contracts.js';

export { CLOSE_CODES, RESYNC_REASONS };
export type { CloseCode, ResyncReason, WsErrorCode } from './generated/contracts.js';

export const ERROR_CODES = PROBLEM_STATUS;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The `code` of a WebSocket `error` frame (the frame was dropped; see WsErrorCode.json for each meaning). */
export const WS_ERROR_CODES: readonly WsErrorCode[] = Object.freeze(Object.keys(WS_ERROR_MEANINGS) as WsErrorCode[]);

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

const RECONNECT = new Map<number, boolean>(Object.values(CLOSE_CODES).map((row) => [row.code, row.reconnect]));

/**
 * Whether a client reconnects after its WebSocket closed with `code`: not after a policy close (1008)
 * or a frame over the size limit (1009), which would happen again; yes after anything else, a code
 * the table does not know included (the Python client follows the same table).
 */
export function reconnectsAfter(code: number): boolean {
  return RECONNECT.get(code) ?? true;
}
