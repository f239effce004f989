/**
 * The SSE connection loop of one stream: a fresh read ticket per attempt, `fetch` streaming
 * through the WHATWG parser, heartbeat watchdog, backoff with jitter, and the classification of
 * failures into retry or give up. What the events mean is the host's business (CanvasTransport).
 */
import type { Backoff } from './backoff.js';
import { AtomsHttpError, errorFromResponse, isAbortError, networkError } from './errors.js';
import type { TransportErrorContext, TransportErrorKind } from './events.js';
import { sleep } from './sleep.js';
import { type SseEvent, SseParser } from './sse.js';
import type { TicketClient } from './tickets.js';
import type { ConnectionStatus, FetchLike, SyncStatus } from './types.js';
import { eventsUrl } from './url.js';

/** One open connection as seen by the event handler: `stop` aborts it (and reports why). */
export interface Connection {
  stopped: boolean;
  stop: (ctx?: Omit<TransportErrorContext, 'willRetry'>) => void;
}

export interface EventStreamHost {
  readonly status: ConnectionStatus;
  readonly syncStatus: SyncStatus;
  setStatus(status: ConnectionStatus, syncStatus: SyncStatus, detail?: string): void;
  emitError(ctx: TransportErrorContext): void;
  /** The seq to resume after (`Last-Event-ID`), or undefined for a fresh snapshot. */
  resumeFrom(): number | undefined;
  /** The response is an event stream: the connection is open. */
  opened(): void;
  onEvent(ev: SseEvent, conn: Connection): void;
  /** A non-retryable refusal: the loop ended. */
  gaveUp(): void;
}

export interface EventStreamOptions {
  baseUrl: string;
  streamId: string;
  fetch: FetchLike;
  tickets: TicketClient;
  backoff: Backoff;
  heartbeatTimeoutMs?: number | undefined;
  openTimeoutMs?: number | undefined;
  isOnline?: (() => boolean) | undefined;
  /** Where the browser's `online` / `offline` events fire (default: globalThis, if it has them). */
  networkEvents?: NetworkEvents | undefined;
}

/** The subset of `window` whose `online` / `offline` events the loop listens to. */
export interface NetworkEvents {
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
}

/** A stream the server ends after at least this long (a ticket's expiry) is renewed without delay. */
const MIN_LIVED_MS = 1000;

interface Outcome {
  fatal?: boolean;
  minDelayMs?: number;
  /** The server ended the stream because its ticket ran out: open the next one at once, still live. */
  renew?: boolean;
}

export class EventStream {
  private readonly opts: EventStreamOptions;
  private readonly host: EventStreamHost;
  private loopCtrl: AbortController | undefined;
  private openTimer: ReturnType<typeof setTimeout> | undefined;
  private conn: Connection | undefined;
  private wakeCtrl = new AbortController();
  private readonly net: NetworkEvents | undefined;
  /** The browser went offline: drop the connection now rather than after the heartbeat timeout. */
  private readonly onOffline = (): void =>
    this.conn?.stop({ kind: 'network', error: new Error('the browser went offline'), code: 'network_error' });
  /** Back online: reconnect now rather than after the backoff. */
  private readonly onOnline = (): void => this.wakeCtrl.abort();

  constructor(options: EventStreamOptions, host: EventStreamHost) {
    this.opts = options;
    this.host = host;
    const g = globalThis as Partial<NetworkEvents>;
    this.net = options.networkEvents ?? (typeof g.addEventListener === 'function' ? (g as NetworkEvents) : undefined);
  }

  /** (Re)starts the loop; a running one is aborted first. */
  start(): void {
    this.loopCtrl?.abort();
    this.loopCtrl = new AbortController();
    this.net?.addEventListener('offline', this.onOffline);
    this.net?.addEventListener('online', this.onOnline);
    void this.loop(this.loopCtrl.signal);
  }

  stop(): void {
    this.loopCtrl?.abort();
    this.loopCtrl = undefined;
    this.net?.removeEventListener('offline', this.onOffline);
    this.net?.removeEventListener('online', this.onOnline);
  }

  /** Starts the open timeout: no answer within it (while `connecting`) shows as `blocked`. */
  watchOpen(): void {
    clearTimeout(this.openTimer);
    const openMs = this.opts.openTimeoutMs ?? 10_000;
    this.openTimer = setTimeout(() => this.onOpenTimeout(openMs), openMs);
  }

  unwatchOpen(): void {
    clearTimeout(this.openTimer);
  }

  /** The connect attempt got no answer in time although the device is online: say why we wait. */
  private onOpenTimeout(ms: number): void {
    const online = this.opts.isOnline ?? (() => (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine !== false);
    if (this.host.status !== 'connecting' || !online()) return;
    const where = new URL(this.opts.baseUrl).host;
    this.host.setStatus(
      'connecting',
      'blocked',
      `no connection to ${where} could be opened within ${ms} ms although the network is up: the browser's connection pool ` +
        'for this host is probably exhausted (six per host over HTTP/1.1); close other canvases or serve over HTTP/2',
    );
  }

  private httpErrorContext(kind: TransportErrorKind, err: AtomsHttpError, willRetry: boolean): TransportErrorContext {
    return {
      kind,
      error: err,
      status: err.status,
      code: err.code,
      ...(err.problem ? { problem: err.problem } : {}),
      willRetry,
    };
  }


  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let outcome: Outcome;
      try {
        outcome = await this.connectOnce(signal);
      } catch (err) {
        // defensive: connectOnce handles its own errors
        outcome = {};
        if (!signal.aborted) this.host.emitError({ kind: 'protocol', error: err as Error, willRetry: true });
      }
      if (signal.aborted) return;
      if (outcome.fatal) {
        this.host.gaveUp();
        return;
      }
      if (outcome.renew) continue; // no backoff, no offline status: Last-Event-ID covers the gap
      this.host.setStatus('connecting', 'offline');
      const wake = new AbortController(); // aborted by close() or by the browser coming back online
      this.wakeCtrl = wake;
      const onAbort = (): void => wake.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      await sleep(Math.max(this.opts.backoff.next(), outcome.minDelayMs ?? 0), wake.signal);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async connectOnce(loopSignal: AbortSignal): Promise<Outcome> {
    if (this.host.status !== 'open') {
      this.host.setStatus('connecting', this.host.syncStatus === 'offline' && this.host.status !== 'closed' ? 'offline' : 'syncing');
    }
    const ctrl = new AbortController();
    const onLoopAbort = (): void => ctrl.abort();
    loopSignal.addEventListener('abort', onLoopAbort, { once: true });
    this.watchOpen();
    try {
      return await this.runConnection(ctrl);
    } finally {
      this.unwatchOpen();
      loopSignal.removeEventListener('abort', onLoopAbort);
      ctrl.abort();
    }
  }

  private async runConnection(ctrl: AbortController): Promise<Outcome> {
    const what = `GET /v1/streams/${this.opts.streamId}/events`;
    let ticket: string;
    let validUntil: number;
    try {
      ({ ticket, validUntil } = await this.opts.tickets.issue(this.opts.streamId, ['read'], ctrl.signal));
    } catch (err) {
      if (ctrl.signal.aborted) return {};
      return this.requestFailed(err, 'POST /v1/tickets');
    }
    if (ctrl.signal.aborted) return {};

    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    const resumeFrom = this.host.resumeFrom();
    if (resumeFrom !== undefined) headers['Last-Event-ID'] = String(resumeFrom);
    let res: Response;
    try {
      res = await this.opts.fetch(eventsUrl(this.opts.baseUrl, this.opts.streamId, ticket), {
        method: 'GET',
        headers,
        cache: 'no-store',
        signal: ctrl.signal,
      });
    } catch (err) {
      if (ctrl.signal.aborted) return {};
      return this.requestFailed(err, what);
    }
    if (ctrl.signal.aborted) {
      void res.body?.cancel().catch(() => undefined);
      return {};
    }
    if (!res.ok) return this.requestFailed(await errorFromResponse(res, what), what);
    const contentType = res.headers.get('Content-Type') ?? '';
    if (!res.body || !contentType.toLowerCase().includes('text/event-stream')) {
      void res.body?.cancel().catch(() => undefined);
      this.host.emitError({ kind: 'protocol', error: new Error(`${what}: not an event stream (${contentType})`), willRetry: true });
      return {};
    }
    const opened = Date.now();
    const endedByServer = await this.readStream(res.body, ctrl);
    // atoms-core ends a stream when its ticket (plus leeway) runs out: that is routine, not an outage;
    // a stream ended just after it opened backs off as usual (as the Python client does).
    const now = Date.now();
    return endedByServer && now >= validUntil && now - opened >= MIN_LIVED_MS ? { renew: true } : {};
  }

  /** Classifies a failed ticket / SSE request into retry or give up, and reports it. */
  private requestFailed(err: unknown, what: string): Outcome {
    const e = err instanceof AtomsHttpError ? err : networkError(what, err);
    const s = e.status;
    if (e.code === 'token_error') {
      this.host.emitError(this.httpErrorContext('auth', e, true));
      return {};
    }
    if (s === 0) {
      this.host.emitError(this.httpErrorContext('network', e, true));
      return {};
    }
    if (s === 401 || s === 403) {
      // next attempt fetches a fresh ticket (and so calls getToken again)
      this.host.emitError(this.httpErrorContext('auth', e, true));
      return {};
    }
    if (s >= 500 || s === 408 || s === 429) {
      this.host.emitError(this.httpErrorContext('http', e, true));
      return e.retryAfterMs !== undefined ? { minDelayMs: e.retryAfterMs } : {};
    }
    this.host.emitError(this.httpErrorContext('http', e, false));
    return { fatal: true };
  }

  /** Reads until the stream ends; true when the server ended it (not an error, a stop or an abort). */
  private async readStream(body: ReadableStream<Uint8Array>, ctrl: AbortController): Promise<boolean> {
    const reader = body.getReader();
    const heartbeatMs = this.opts.heartbeatTimeoutMs ?? 35_000;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const conn: Connection = (this.conn = {
      stopped: false,
      stop: (ctx) => {
        if (conn.stopped) return;
        conn.stopped = true;
        parser.stop();
        if (watchdog !== undefined) clearTimeout(watchdog);
        ctrl.abort();
        reader.cancel().catch(() => undefined);
        if (ctx) this.host.emitError({ ...ctx, willRetry: true });
      },
    });
    const parser = new SseParser({
      onEvent: (ev) => this.host.onEvent(ev, conn),
      onRetry: (ms) => this.opts.backoff.setMinBase(ms),
    });
    const arm = (): void => {
      if (watchdog !== undefined) clearTimeout(watchdog);
      watchdog = setTimeout(
        () => conn.stop({ kind: 'heartbeat', error: new Error(`no data for ${heartbeatMs} ms`), code: 'heartbeat_timeout' }),
        heartbeatMs,
      );
    };

    ctrl.signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined), { once: true });
    this.unwatchOpen();
    this.opts.backoff.reset();
    this.host.opened();
    arm();
    let endedByServer = false;
    try {
      let done = false;
      while (!done && !conn.stopped && !ctrl.signal.aborted) {
        const read = await reader.read();
        done = read.done;
        if (done || conn.stopped || ctrl.signal.aborted) break;
        arm();
        if (read.value && read.value.byteLength > 0) parser.push(read.value);
      }
      if (!conn.stopped) parser.end();
      // Ended by the server, unless the tail was still refused (a gap, a bad frame) or we stopped it.
      endedByServer = done && !conn.stopped && !ctrl.signal.aborted;
    } catch (err) {
      if (!conn.stopped && !ctrl.signal.aborted) {
        const kind: TransportErrorKind = !isAbortError(err) && err instanceof Error && err.name.startsWith('Sse') ? 'protocol' : 'network';
        conn.stop({ kind, error: err instanceof Error ? err : new Error(String(err)) });
      }
    } finally {
      conn.stopped = true;
      if (watchdog !== undefined) clearTimeout(watchdog);
      reader.cancel().catch(() => undefined);
    }
    return endedByServer;
  }
}
