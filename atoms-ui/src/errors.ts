/**
 * Errors atoms-ui throws or reports, each carrying what the server (or the client) said.
 *
 * Exception tree (all extend `Error`; `name` is the class name):
 *
 *     AtomsHttpError        any non-2xx answer, or a network failure (`status` 0, `code` network_error);
 *     │                     `status`, `code` (see codes.ts), `problem` (problem+json), `retryAfterMs`
 *     └── CommandError      a command refused or given up on: `commandId`, `attempts`, and on 409
 *                           version_conflict `isConflict` / `currentVersion`; `pointer` of a 422
 *     PatchApplyError       a state or token patch that does not apply locally (`code` patch_failed)
 *     SidecarError          a sidecar ref that cannot become a URL (`code` sidecar_*)
 *
 * Commands reject with `CommandError`; everything else the transport meets is reported on its
 * `error` event with a `kind` (auth, http, network, heartbeat, gap, protocol, patch, presence), not
 * thrown. A malformed SSE stream (the parser's own `SseBufferOverflowError`, not exported) is
 * `kind: 'protocol'`.
 */
import type { Problem } from './types.js';

/** Parses a `Retry-After` header (delta-seconds or HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Any non-2xx answer from atoms-core (or a network failure, `status` 0). */
export class AtomsHttpError extends Error {
  override name = 'AtomsHttpError';
  readonly status: number;
  readonly code: string;
  readonly problem: Problem | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    init: { status: number; code: string; problem?: Problem; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.problem = init.problem;
    this.retryAfterMs = init.retryAfterMs;
  }
}

/** A refused or failed command. On 409 `version_conflict`, `currentVersion` tells where to rebase. */
export class CommandError extends AtomsHttpError {
  override name = 'CommandError';
  readonly commandId: string;
  readonly currentVersion: number | undefined;
  readonly pointer: string | undefined;
  readonly attempts: number;

  constructor(base: AtomsHttpError, commandId: string, attempts: number) {
    super(base.message, {
      status: base.status,
      code: base.code,
      ...(base.problem ? { problem: base.problem } : {}),
      ...(base.retryAfterMs !== undefined ? { retryAfterMs: base.retryAfterMs } : {}),
      cause: base.cause ?? base,
    });
    this.commandId = commandId;
    const cv = base.problem?.current_version;
    this.currentVersion = typeof cv === 'number' ? cv : undefined;
    const ptr = base.problem?.pointer;
    this.pointer = typeof ptr === 'string' ? ptr : undefined;
    this.attempts = attempts;
  }

  get isConflict(): boolean {
    return this.status === 409 && this.code === 'version_conflict';
  }
}

/** A patch (state or token) that does not apply to the local state. */
export class PatchApplyError extends Error {
  override name = 'PatchApplyError';
  readonly code = 'patch_failed';
  readonly opIndex: number | undefined;

  constructor(message: string, opIndex?: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.opIndex = opIndex;
  }
}

/** A sidecar ref that cannot be turned into a URL on the client. */
export class SidecarError extends Error {
  override name = 'SidecarError';
  readonly code: string;
  constructor(code: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}

function isProblem(v: unknown): v is Problem {
  return typeof v === 'object' && v !== null && typeof (v as { code?: unknown }).code === 'string';
}

/** Turns a non-2xx response into an {@link AtomsHttpError}, reading its problem+json body if any. */
export async function errorFromResponse(res: Response, what: string): Promise<AtomsHttpError> {
  let problem: Problem | undefined;
  try {
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (isProblem(parsed)) problem = parsed;
  } catch {
    // not JSON: keep the status only
  }
  const retryAfterMs = parseRetryAfter(res.headers.get('Retry-After'));
  const code = problem?.code ?? `http_${res.status}`;
  const detail = problem?.detail ?? res.statusText;
  return new AtomsHttpError(`${what}: ${res.status} ${code}${detail ? ` — ${detail}` : ''}`, {
    status: res.status,
    code,
    ...(problem ? { problem } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

export function networkError(what: string, cause: unknown): AtomsHttpError {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new AtomsHttpError(`${what}: network error — ${msg}`, { status: 0, code: 'network_error', cause });
}

export function isAbortError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError';
}
