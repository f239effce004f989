/** Short-lived stream tickets: `POST /v1/tickets` with the caller's identity JWT. */
import { AtomsHttpError, errorFromResponse, networkError } from './errors.js';
import type { FetchLike, GetToken, TicketResponse, TicketScope } from './types.js';
import { ticketsUrl } from './url.js';

export interface TicketClientOptions {
  baseUrl: string;
  getToken: GetToken;
  fetch: FetchLike;
  /** Cached tickets are dropped this long before they expire (default 5000 ms). */
  expirySkewMs?: number;
  now?: () => number;
}

export interface Ticket extends TicketResponse {
  /** Local clock time (ms) after which the ticket must not be used. */
  validUntil: number;
}

export class TicketClient {
  private readonly opts: TicketClientOptions;
  private readonly cache = new Map<string, Ticket>();
  private readonly inflight = new Map<string, Promise<Ticket>>();

  constructor(options: TicketClientOptions) {
    this.opts = options;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Always asks the server for a new ticket (used on every SSE / WS (re)connect). */
  async issue(streamId: string, scopes: TicketScope[], signal?: AbortSignal): Promise<Ticket> {
    let identity: string;
    try {
      identity = await this.opts.getToken();
    } catch (err) {
      throw new AtomsHttpError(`getToken() failed: ${err instanceof Error ? err.message : String(err)}`, {
        status: 0,
        code: 'token_error',
        cause: err,
      });
    }
    let res: Response;
    try {
      res = await this.opts.fetch(ticketsUrl(this.opts.baseUrl), {
        method: 'POST',
        headers: { Authorization: `Bearer ${identity}`, 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ stream_id: streamId, scopes }),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw networkError('POST /v1/tickets', err);
    }
    if (!res.ok) throw await errorFromResponse(res, 'POST /v1/tickets');
    const body = (await res.json()) as TicketResponse;
    const skew = this.opts.expirySkewMs ?? 5000;
    const received = this.now();
    const byTtl = typeof body.expires_in === 'number' ? received + body.expires_in * 1000 : Infinity;
    const parsed = Date.parse(body.expires_at);
    // Prefer the relative TTL (immune to client clock skew); fall back to the absolute expiry.
    const expiry = Number.isFinite(byTtl) ? byTtl : Number.isNaN(parsed) ? received : parsed;
    return { ...body, validUntil: expiry - skew };
  }

  /** A cached ticket for these scopes, re-issued when within the skew of its expiry. */
  async cached(streamId: string, scopes: TicketScope[]): Promise<Ticket> {
    const key = `${streamId} ${[...scopes].sort().join(',')}`;
    const hit = this.cache.get(key);
    if (hit && hit.validUntil > this.now()) return hit;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = this.issue(streamId, scopes)
      .then((t) => {
        this.cache.set(key, t);
        return t;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** Forgets cached tickets (e.g. after the server refused one). */
  invalidate(): void {
    this.cache.clear();
  }
}
