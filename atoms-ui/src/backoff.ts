/**
 * Exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS, 2015):
 * delay = random() * min(cap, base * 2^attempt). The server's SSE `retry:` raises the base.
 */

export interface BackoffOptions {
  /** First window, in ms (default 250). */
  baseMs?: number;
  /** Largest window, in ms (default 10 000). */
  capMs?: number;
  /** Source of randomness in [0, 1) (default Math.random). */
  random?: () => number;
}

export const DEFAULT_BACKOFF = { baseMs: 250, capMs: 10_000 } as const;

/** The full-jitter delay for a 0-based attempt number. Always in [0, min(cap, base*2^attempt)]. */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const window = Math.min(capMs, baseMs * 2 ** exp);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * window);
}

export class Backoff {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly random: () => number;
  private minBaseMs = 0;
  private _attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = Math.max(0, options.baseMs ?? DEFAULT_BACKOFF.baseMs);
    this.capMs = Math.max(0, options.capMs ?? DEFAULT_BACKOFF.capMs);
    this.random = options.random ?? Math.random;
  }

  /** Attempts made since the last reset. */
  get attempt(): number {
    return this._attempt;
  }

  /** Effective base: the configured base, raised to the server's `retry:` hint if larger. */
  get effectiveBaseMs(): number {
    return Math.max(this.baseMs, this.minBaseMs);
  }

  /** Effective cap: never below the effective base. */
  get effectiveCapMs(): number {
    return Math.max(this.capMs, this.effectiveBaseMs);
  }

  /** Sets the server's reconnection time (SSE `retry:`) as the minimum base. */
  setMinBase(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0) this.minBaseMs = ms;
  }

  /** The delay before the next attempt; advances the attempt counter. */
  next(): number {
    const d = backoffDelay(this._attempt, this.effectiveBaseMs, this.effectiveCapMs, this.random);
    this._attempt++;
    return d;
  }

  /** Call after a successful open. */
  reset(): void {
    this._attempt = 0;
  }
}
