/**
 * CanvasTransport (CONTRACT §11): the one client of the realtime routes.
 * SSE (via fetch streaming) is downstream truth; commands go up over HTTP; the WebSocket
 * carries presence only. Keeps the materialised state of one stream.
 */
import { Backoff, type BackoffOptions } from './backoff.js';
import { type BatchItem, CommandClient, type CommandOptions } from './commands.js';
import { applyStatePatchWithInverse } from './inverse.js';
import { PendingQueue } from './pending.js';
import { platformTabs, TabLink, type TabMessage } from './tabs.js';
import { type StepKind, UndoHistory } from './undo.js';
import { uuid } from './ids.js';
import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import { AtomsHttpError, CommandError, errorFromResponse, isAbortError, networkError } from './errors.js';
import { applyEnvelope, getAtPointer } from './patch.js';
import { type PeerInfo, PresenceClient, type PresenceClientOptions, type PeersChange } from './presence.js';
import { SidecarResolver } from './sidecars.js';
import { sleep } from './sleep.js';
import { type SseEvent, SseParser } from './sse.js';
import { TicketClient } from './tickets.js';
import type {
  BatchResult,
  CommandPayloadMap,
  CommandResult,
  CommandType,
  ConnectionStatus,
  EventEnvelope,
  FetchLike,
  GetToken,
  HelloData,
  JsonObject,
  JsonValue,
  LogData,
  MediaRef,
  MediaValue,
  PatchOperation,
  ResyncData,
  SnapshotCreatedData,
  StatePatchData,
  StateSnapshotData,
  SyncStatus,
  TokenPatchData,
  TypedEnvelope,
  WebSocketCtor,
} from './types.js';
import { eventsUrl, toWsBase } from './url.js';
import type {
  CanvasTransportOptions,
  PendingCommand,
  UndoDirection,
  PresenceTuning,
  StateChange,
  StateChangeCause,
  StatusContext,
  TabRole,
  TransportErrorContext,
  TransportErrorKind,
  TransportEventMap,
  UndoOutcome,
} from './events.js';

export type * from './events.js';

export const STREAM_ID_RE = /^(thread|canvas|run):[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isStreamId(s: string): boolean {
  return STREAM_ID_RE.test(s);
}

interface Outcome {
  fatal?: boolean;
  minDelayMs?: number;
}

interface Connection {
  stopped: boolean;
  stop: (ctx?: Omit<TransportErrorContext, 'willRetry'>) => void;
}

interface SeqWaiter {
  seq: number;
  resolve: () => void;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class CanvasTransport {
  readonly streamId: string;
  readonly presence: PresenceClient;

  private readonly opts: CanvasTransportOptions;
  private readonly emitter = new Emitter<TransportEventMap>();
  private readonly fetchImpl: FetchLike;
  private readonly wsCtor: WebSocketCtor | undefined;
  private readonly tickets: TicketClient;
  private readonly commands: CommandClient;
  private readonly sidecars: SidecarResolver;
  private readonly backoff: Backoff;

  private state: JsonValue = {};
  private lastSeq = 0;
  private version = 0;
  private hasState = false;
  private needSnapshot = false;
  private awaitingSnapshot = false;
  private headSeq: number | undefined;
  private _status: ConnectionStatus = 'closed';
  private _syncStatus: SyncStatus = 'offline';
  private _detail: string | undefined;
  private openTimer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private loopCtrl: AbortController | undefined;
  private waiters: SeqWaiter[] = [];
  private readonly history: UndoHistory;
  private historyChain: Promise<unknown> = Promise.resolve();
  private readonly queue: PendingQueue;
  private readonly tabs: TabLink | undefined;
  private readonly tabId = uuid();
  /** The SSE connection of a follower: its "stop" asks the leader for a fresh state. */
  private readonly followerConn: Connection = { stopped: false, stop: (ctx) => this.followerResync(ctx) };

  constructor(options: CanvasTransportOptions) {
    if (!isStreamId(options.streamId)) throw new TypeError(`invalid stream id "${options.streamId}"`);
    if (typeof options.getToken !== 'function') throw new TypeError('getToken is required');
    this.opts = options;
    this.streamId = options.streamId;
    const globalFetch = (globalThis as { fetch?: FetchLike }).fetch;
    const f = options.fetch ?? (globalFetch ? globalFetch.bind(globalThis) : undefined);
    if (!f) throw new TypeError('no fetch available: pass options.fetch');
    this.fetchImpl = f;
    this.wsCtor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    const skew = options.expirySkewMs ?? 5000;
    const common = { baseUrl: options.baseUrl, getToken: options.getToken, fetch: f, expirySkewMs: skew, ...(options.now ? { now: options.now } : {}) };
    this.tickets = new TicketClient(common);
    this.sidecars = new SidecarResolver(common);
    this.commands = new CommandClient({
      baseUrl: options.baseUrl,
      streamId: options.streamId,
      fetch: f,
      tickets: this.tickets,
      ...(options.commandRetries !== undefined ? { maxRetries: options.commandRetries } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.generateId ? { generateId: options.generateId } : {}),
    });
    this.backoff = new Backoff(options.backoff);
    this.history = new UndoHistory((h) => this.emitter.emit('history', h));
    this.queue = new PendingQueue({
      client: this.commands,
      now: options.now ?? Date.now,
      backoff: options.backoff,
      onChange: (commands) => {
        this.emitter.emit('pending', { count: commands.length, commands: [...commands] });
        this.emitStatus(this._status);
      },
    });
    const platform = options.shareAcrossTabs === false ? undefined : options.locks && options.BroadcastChannel
      ? { locks: options.locks, BroadcastChannel: options.BroadcastChannel }
      : platformTabs();
    this.tabs = platform && new TabLink({
      name: `atoms-ui:${options.baseUrl.replace(/\/+$/, '')}:${options.streamId}`,
      ...platform,
      onLeader: () => this.becomeLeader(),
      onMessage: (msg) => this.onTabMessage(msg),
    });
    const tuning: PresenceTuning = typeof options.presence === 'object' ? options.presence : {};
    const missingWs: WebSocketCtor = class {
      constructor() {
        throw new Error('no WebSocket available: pass options.WebSocket');
      }
    } as unknown as WebSocketCtor;
    this.presence = new PresenceClient({
      wsBaseUrl: options.wsBaseUrl ?? toWsBase(options.baseUrl),
      streamId: options.streamId,
      tickets: this.tickets,
      WebSocket: this.wsCtor ?? missingWs,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...tuning,
    });
    this.wirePresence();
  }

  // ------------------------------------------------------------------ public API

  get status(): ConnectionStatus {
    return this._status;
  }

  get syncStatus(): SyncStatus {
    return this._syncStatus;
  }

  getState(): JsonValue {
    return this.state;
  }

  /** Value at a JSON Pointer in the materialised state. */
  get(pointer: string): JsonValue | undefined {
    return getAtPointer(this.state, pointer);
  }

  /** Last applied timeline position. */
  getSeq(): number {
    return this.lastSeq;
  }

  /** State version after the last applied event. */
  getVersion(): number {
    return this.version;
  }

  on<K extends keyof TransportEventMap>(event: K, listener: Listener<TransportEventMap[K]>): Unsubscribe {
    return this.emitter.on(event, listener);
  }

  once<K extends keyof TransportEventMap>(event: K, listener: Listener<TransportEventMap[K]>): Unsubscribe {
    return this.emitter.once(event, listener);
  }

  off<K extends keyof TransportEventMap>(event: K, listener: Listener<TransportEventMap[K]>): void {
    this.emitter.off(event, listener);
  }

  /** Subscribes to state changes (usable with React's useSyncExternalStore). */
  subscribe(listener: Listener<StateChange>): Unsubscribe {
    return this.emitter.on('state', listener);
  }

  /** Starts the SSE loop (and the presence socket unless `presence: false`). Idempotent. */
  connect(): void {
    if (this.running) return;
    this.running = true;
    if (this.tabs) {
      // a follower until the lock is granted (at once when no other tab of this stream holds it)
      this.awaitingSnapshot = !this.hasState;
      this.setStatus('connecting', 'syncing');
      this.tabs.start();
      this.tabs.post({ t: 'join', from: this.tabId, seq: this.hasState ? this.lastSeq : null, force: false });
      this.emitter.emit('tab_role', { role: this.tabRole });
    } else this.startLoop();
    if (this.opts.presence !== false) {
      if (this.wsCtor) this.presence.connect();
      else
        this.emitError({
          kind: 'presence',
          error: new Error('no WebSocket available: pass options.WebSocket'),
          code: 'ws_unavailable',
          willRetry: false,
        });
    }
  }

  /** Stops everything; the state stays readable. connect() may be called again. */
  close(): void {
    this.running = false;
    const role = this.tabRole;
    this.tabs?.stop(); // hands the connection over to the next tab in line
    if (role === 'leader') this.emitter.emit('tab_role', { role: this.tabRole });
    this.loopCtrl?.abort();
    this.loopCtrl = undefined;
    this.presence.close();
    this.setStatus('closed', 'offline');
  }

  /** Resolves once an event with seq >= `seq` was applied (e.g. a command's result.seq). */
  waitForSeq(seq: number, signal?: AbortSignal): Promise<void> {
    if (this.lastSeq >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w: SeqWaiter = { seq, resolve };
      this.waiters.push(w);
      signal?.addEventListener(
        'abort',
        () => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(signal.reason ?? new Error('aborted'));
        },
        { once: true },
      );
    });
  }

  /**
   * Sends one command; throws {@link CommandError} (e.g. 409 `version_conflict` with currentVersion).
   * Commands go out in the order issued; while offline they stay pending (see `pendingCommands`)
   * and are sent with their original command_id once the server is reachable again.
   */
  command<T extends CommandType>(type: T, payload: CommandPayloadMap[T], options: CommandOptions = {}): Promise<CommandResult> {
    return this.issue(type, payload, options, 'do');
  }

  /** Sends several commands in one request (all or nothing); its state.patch commands are one undo step. */
  commandBatch(items: readonly BatchItem[], options: { signal?: AbortSignal } = {}): Promise<BatchResult> {
    const envs = items.map((i) => this.commands.envelope(i.type, i.payload as never, i));
    const tracked = envs.filter((e) => e.type === 'state.patch').map((e) => e.command_id);
    this.history.beginBatch();
    for (const id of tracked) this.history.track(id, 'do');
    this.history.endBatch();
    const p = this.queue.enqueue(envs, true, options.signal) as Promise<BatchResult>;
    p.then(
      (r) => r.results.forEach((res) => this.history.acked(res.command_id, res.seq, this.lastSeq)),
      () => tracked.forEach((id) => this.history.dropped(id)),
    );
    return p;
  }

  /** Resolves a sidecar ref (or media value) to a URL. */
  resolveSidecar(ref: MediaRef | MediaValue): Promise<string> {
    return this.sidecars.resolve(ref);
  }

  // ------------------------------------------------------------------ undo / redo

  get canUndo(): boolean {
    return this.history.canUndo;
  }

  get canRedo(): boolean {
    return this.history.canRedo;
  }

  /**
   * Undoes this user's last step by sending its inverse as an ordinary command (others' changes
   * are never undone). `skipped` (and an `undo_skipped` event) when the server refuses it because
   * the values this step produced were changed or deleted since; the step is then dropped.
   */
  undo(): Promise<UndoOutcome> {
    return this.runHistory('undo');
  }

  /** Redoes the last undone step (same rules as undo). */
  redo(): Promise<UndoOutcome> {
    return this.runHistory('redo');
  }

  /** Runs `fn`; every state.patch command sent until it settles becomes ONE undo step. */
  async batch<T>(fn: () => T | Promise<T>): Promise<T> {
    this.history.beginBatch();
    try {
      return await fn();
    } finally {
      this.history.endBatch();
    }
  }

  // ------------------------------------------------------------------ pending, tabs

  /** Commands issued and not yet acknowledged, in the order they will be sent. */
  get pendingCommands(): readonly PendingCommand[] {
    return this.queue.commands;
  }

  /** `leader` holds this stream's SSE connection for the origin's tabs; `solo` when not sharing. */
  get tabRole(): TabRole {
    if (!this.tabs || !this.running) return 'solo';
    return this.tabs.isLeader ? 'leader' : 'follower';
  }

  private issue<T extends CommandType>(type: T, payload: CommandPayloadMap[T], options: CommandOptions, kind: StepKind): Promise<CommandResult> {
    const env = this.commands.envelope(type, payload, options);
    if (type === 'state.patch') this.history.track(env.command_id, kind);
    const p = this.queue.enqueue([env], false, options.signal) as Promise<CommandResult>;
    if (type === 'state.patch') {
      p.then(
        (r) => this.history.acked(env.command_id, r.seq, this.lastSeq),
        () => this.history.dropped(env.command_id),
      );
    }
    return p;
  }

  /** Undo / redo one after the other, so their inverses reach the server in order. */
  private runHistory(direction: UndoDirection): Promise<UndoOutcome> {
    const run = this.historyChain.then(() => this.historyStep(direction));
    this.historyChain = run.catch(() => undefined);
    return run;
  }

  private async historyStep(direction: UndoDirection): Promise<UndoOutcome> {
    for (;;) {
      const step = this.history.pop(direction);
      if (!step) return 'empty';
      await step.ready();
      const ops = step.inverse();
      if (ops.length === 0) continue; // all its commands were refused: nothing to undo there
      try {
        const result = await this.issue('state.patch', { ops }, {}, direction);
        await this.waitForSeq(result.seq);
        return 'applied';
      } catch (err) {
        if (err instanceof CommandError && err.status >= 400 && err.status < 500) {
          this.emitter.emit('undo_skipped', { direction, reason: err.code, detail: err.problem?.detail ?? err.message });
          return 'skipped';
        }
        this.history.restore(direction, step);
        throw err;
      }
    }
  }

  // ------------------------------------------------------------------ status

  private setStatus(status: ConnectionStatus, syncStatus: SyncStatus, detail?: string): void {
    if (status === this._status && syncStatus === this._syncStatus && detail === this._detail) return;
    const previous = this._status;
    this._status = status;
    this._syncStatus = syncStatus;
    this._detail = detail;
    if (this.tabs?.isLeader) this.tabs.post({ t: 'status', status, syncStatus, ...(detail ? { detail } : {}) });
    if (status === 'open') this.queue.wake();
    this.emitStatus(previous);
  }

  private emitStatus(previous: ConnectionStatus): void {
    const ctx: StatusContext = { status: this._status, syncStatus: this._syncStatus, previous, pending: this.queue.commands.length };
    if (this._detail !== undefined) ctx.detail = this._detail;
    this.emitter.emit('status', ctx);
  }

  private caughtUp(): boolean {
    if (this.awaitingSnapshot || !this.hasState) return false;
    return this.headSeq === undefined || this.lastSeq >= this.headSeq;
  }

  private updateSync(): void {
    if (this._status === 'open') this.setStatus('open', this.caughtUp() ? 'synced' : 'syncing');
  }

  /** The connect attempt got no answer in time although the device is online: say why we wait. */
  private onOpenTimeout(ms: number): void {
    const online = this.opts.isOnline ?? (() => (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine !== false);
    if (this._status !== 'connecting' || !online()) return;
    const host = new URL(this.opts.baseUrl).host;
    this.setStatus(
      'connecting',
      'blocked',
      `no connection to ${host} could be opened within ${ms} ms although the network is up: the browser's connection pool ` +
        'for this host is probably exhausted (six per host over HTTP/1.1); close other canvases or serve over HTTP/2',
    );
  }

  private emitError(ctx: TransportErrorContext): void {
    this.emitter.emit('error', ctx);
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

  // ------------------------------------------------------------------ SSE loop

  private startLoop(): void {
    this.loopCtrl?.abort();
    this.loopCtrl = new AbortController();
    void this.loop(this.loopCtrl.signal);
  }

  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let outcome: Outcome;
      try {
        outcome = await this.connectOnce(signal);
      } catch (err) {
        // defensive: connectOnce handles its own errors
        outcome = {};
        if (!signal.aborted) this.emitError({ kind: 'protocol', error: err as Error, willRetry: true });
      }
      if (signal.aborted) return;
      if (outcome.fatal) {
        this.running = false;
        this.setStatus('closed', 'offline');
        return;
      }
      this.setStatus('connecting', 'offline');
      await sleep(Math.max(this.backoff.next(), outcome.minDelayMs ?? 0), signal);
    }
  }

  private async connectOnce(loopSignal: AbortSignal): Promise<Outcome> {
    this.setStatus('connecting', this._syncStatus === 'offline' && this._status !== 'closed' ? 'offline' : 'syncing');
    const ctrl = new AbortController();
    const onLoopAbort = (): void => ctrl.abort();
    loopSignal.addEventListener('abort', onLoopAbort, { once: true });
    const openMs = this.opts.openTimeoutMs ?? 10_000;
    this.openTimer = setTimeout(() => this.onOpenTimeout(openMs), openMs);
    try {
      return await this.runConnection(ctrl);
    } finally {
      clearTimeout(this.openTimer);
      loopSignal.removeEventListener('abort', onLoopAbort);
      ctrl.abort();
    }
  }

  private async runConnection(ctrl: AbortController): Promise<Outcome> {
    const what = `GET /v1/streams/${this.streamId}/events`;
    let ticket: string;
    try {
      ticket = (await this.tickets.issue(this.streamId, ['read'], ctrl.signal)).ticket;
    } catch (err) {
      if (ctrl.signal.aborted) return {};
      return this.requestFailed(err, 'POST /v1/tickets');
    }
    if (ctrl.signal.aborted) return {};

    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (this.hasState && !this.needSnapshot) headers['Last-Event-ID'] = String(this.lastSeq);
    let res: Response;
    try {
      res = await this.fetchImpl(eventsUrl(this.opts.baseUrl, this.streamId, ticket), {
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
      this.emitError({ kind: 'protocol', error: new Error(`${what}: not an event stream (${contentType})`), willRetry: true });
      return {};
    }
    return this.readStream(res.body, ctrl);
  }

  /** Classifies a failed ticket / SSE request into retry or give up, and reports it. */
  private requestFailed(err: unknown, what: string): Outcome {
    const e = err instanceof AtomsHttpError ? err : networkError(what, err);
    const s = e.status;
    if (e.code === 'token_error') {
      this.emitError(this.httpErrorContext('auth', e, true));
      return {};
    }
    if (s === 0) {
      this.emitError(this.httpErrorContext('network', e, true));
      return {};
    }
    if (s === 401 || s === 403) {
      // next attempt fetches a fresh ticket (and so calls getToken again)
      this.emitError(this.httpErrorContext('auth', e, true));
      return {};
    }
    if (s >= 500 || s === 408 || s === 429) {
      this.emitError(this.httpErrorContext('http', e, true));
      return e.retryAfterMs !== undefined ? { minDelayMs: e.retryAfterMs } : {};
    }
    this.emitError(this.httpErrorContext('http', e, false));
    return { fatal: true };
  }

  private async readStream(body: ReadableStream<Uint8Array>, ctrl: AbortController): Promise<Outcome> {
    const reader = body.getReader();
    const heartbeatMs = this.opts.heartbeatTimeoutMs ?? 35_000;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const conn: Connection = {
      stopped: false,
      stop: (ctx) => {
        if (conn.stopped) return;
        conn.stopped = true;
        parser.stop();
        if (watchdog !== undefined) clearTimeout(watchdog);
        ctrl.abort();
        reader.cancel().catch(() => undefined);
        if (ctx) this.emitError({ ...ctx, willRetry: true });
      },
    };
    const parser = new SseParser({
      onEvent: (ev) => {
        if (this.tabs?.isLeader) this.tabs.post({ t: 'sse', type: ev.type, data: ev.data });
        this.onSseEvent(ev, conn);
      },
      onRetry: (ms) => this.backoff.setMinBase(ms),
    });
    const arm = (): void => {
      if (watchdog !== undefined) clearTimeout(watchdog);
      watchdog = setTimeout(
        () => conn.stop({ kind: 'heartbeat', error: new Error(`no data for ${heartbeatMs} ms`), code: 'heartbeat_timeout' }),
        heartbeatMs,
      );
    };

    ctrl.signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined), { once: true });
    clearTimeout(this.openTimer);
    this.backoff.reset();
    this.headSeq = undefined;
    this.setStatus('open', 'syncing');
    this.updateSync();
    arm();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || conn.stopped || ctrl.signal.aborted) break;
        arm();
        if (value && value.byteLength > 0) parser.push(value);
        if (conn.stopped) break;
      }
      if (!conn.stopped) parser.end();
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
    return {};
  }

  // ------------------------------------------------------------------ frames

  private onSseEvent(ev: SseEvent, conn: Connection): void {
    if (conn.stopped) return;
    const data = parseJson(ev.data);
    switch (ev.type) {
      case 'hello':
        if (!isRecord(data) || typeof data.head_seq !== 'number') return this.protocolError(conn, 'bad hello');
        this.headSeq = data.head_seq;
        this.emitter.emit('hello', data as unknown as HelloData);
        this.updateSync();
        return;
      case 'state_snapshot':
        if (!isRecord(data) || typeof data.seq !== 'number' || !('state' in data)) {
          return this.protocolError(conn, 'bad state_snapshot');
        }
        this.applySnapshot(data as unknown as StateSnapshotData);
        return;
      case 'resync':
        this.awaitingSnapshot = true;
        if (isRecord(data) && typeof data.head_seq === 'number') this.headSeq = data.head_seq;
        this.emitter.emit('resync', (isRecord(data) ? data : {}) as unknown as ResyncData);
        this.updateSync();
        return;
      default:
        break;
    }
    if (!isRecord(data)) return this.protocolError(conn, `unparseable ${ev.type} event`);
    if (typeof data.seq !== 'number' || !Number.isInteger(data.seq)) return; // unknown control event: ignore
    this.onEnvelope(data as unknown as EventEnvelope, conn);
  }

  private protocolError(conn: Connection, message: string): void {
    conn.stop({ kind: 'protocol', error: new Error(`SSE protocol error: ${message}`), code: 'protocol_error' });
  }

  private applySnapshot(snap: StateSnapshotData): void {
    this.state = snap.state;
    this.lastSeq = snap.seq;
    this.version = typeof snap.version === 'number' ? snap.version : this.version;
    this.hasState = true;
    this.needSnapshot = false;
    this.awaitingSnapshot = false;
    this.history.skippedTo(snap.seq);
    this.emitter.emit('state_snapshot', snap);
    this.emitter.emit('state', { state: this.state, seq: this.lastSeq, version: this.version, cause: 'snapshot' });
    this.updateSync();
    this.releaseWaiters();
  }

  private onEnvelope(env: EventEnvelope, conn: Connection): void {
    if (env.seq <= this.lastSeq) return; // duplicate
    if (this.awaitingSnapshot) return; // a fresh snapshot follows and covers it
    if (env.seq !== this.lastSeq + 1) {
      conn.stop({
        kind: 'gap',
        error: new Error(`seq gap: expected ${this.lastSeq + 1}, got ${env.seq}`),
        code: 'seq_gap',
      });
      return;
    }
    const prev = this.state;
    let next: JsonValue;
    let inverse: PatchOperation[] | undefined;
    try {
      if (env.type === 'state_patch' && this.history.isTracked(env.command_id)) {
        // our own change: apply it and learn its inverse in one pass
        ({ state: next, inverse } = applyStatePatchWithInverse(prev, (env.data as unknown as StatePatchData).ops));
      } else next = applyEnvelope(prev, env);
    } catch (err) {
      // Local state diverged: keep showing it, but reload from a fresh snapshot.
      this.needSnapshot = true;
      conn.stop({ kind: 'patch', error: err as Error, code: 'patch_failed' });
      return;
    }
    this.state = next;
    this.lastSeq = env.seq;
    if (typeof env.version === 'number') this.version = env.version;
    this.hasState = true;
    if (inverse) this.history.applied(env.command_id, inverse);
    if (next !== prev) {
      const cause: StateChangeCause = env.type === 'token_patch' ? 'token_patch' : 'state_patch';
      this.emitter.emit('state', { state: next, seq: env.seq, version: this.version, cause, envelope: env });
    }
    this.emitTyped(env);
    this.emitter.emit('event', { envelope: env });
    this.updateSync();
    this.releaseWaiters();
  }

  private emitTyped(env: EventEnvelope): void {
    switch (env.type) {
      case 'state_patch': {
        const e = env as unknown as TypedEnvelope<'state_patch'>;
        this.emitter.emit('state_patch', { envelope: e, ops: e.data.ops });
        break;
      }
      case 'token_patch': {
        const e = env as unknown as TypedEnvelope<'token_patch'>;
        const v = getAtPointer(this.state, e.data.target);
        this.emitter.emit('token_patch', {
          ...e.data,
          final: e.data.final === true,
          envelope: e,
          value: typeof v === 'string' ? v : undefined,
        });
        break;
      }
      case 'log': {
        const e = env as unknown as TypedEnvelope<'log'>;
        this.emitter.emit('log', { ...e.data, envelope: e });
        break;
      }
      case 'snapshot_created': {
        const e = env as unknown as TypedEnvelope<'snapshot_created'>;
        this.emitter.emit('snapshot_created', { ...e.data, envelope: e });
        break;
      }
      default:
        break;
    }
  }

  private releaseWaiters(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.seq <= this.lastSeq);
    this.waiters = this.waiters.filter((w) => w.seq > this.lastSeq);
    for (const w of ready) w.resolve();
  }

  // ------------------------------------------------------------------ tab sharing

  /** This tab got the lock: it opens the stream, resuming from its own last seq. */
  private becomeLeader(): void {
    if (!this.running) return;
    this.awaitingSnapshot = false;
    this.tabs?.post({ t: 'leader' });
    this.emitter.emit('tab_role', { role: 'leader' });
    this.startLoop();
  }

  private onTabMessage(msg: TabMessage): void {
    if (!this.running) return;
    if (this.tabs?.isLeader) {
      if (msg.t === 'join') this.answerJoin(msg);
      return;
    }
    switch (msg.t) {
      case 'sse':
        this.onSseEvent({ type: msg.type, data: msg.data, lastEventId: '', id: undefined }, this.followerConn);
        return;
      case 'status':
        if (msg.status === 'open') this.setStatus('open', this.caughtUp() ? 'synced' : 'syncing');
        else this.setStatus(msg.status, msg.syncStatus, msg.detail);
        return;
      case 'state':
        if (msg.to !== this.tabId) return;
        this.headSeq = msg.head_seq;
        this.applySnapshot(msg.snapshot);
        return;
      case 'leader':
        this.tabs?.post({ t: 'join', from: this.tabId, seq: this.hasState ? this.lastSeq : null, force: this.awaitingSnapshot });
        return;
      default:
        return;
    }
  }

  /** A follower asks for the state: send ours if it has none, an older one, or an unusable one. */
  private answerJoin(msg: Extract<TabMessage, { t: 'join' }>): void {
    const tabs = this.tabs;
    if (!tabs) return;
    tabs.post({ t: 'status', status: this._status, syncStatus: this._syncStatus, ...(this._detail ? { detail: this._detail } : {}) });
    if (!this.hasState || this.awaitingSnapshot || this.needSnapshot) return; // our server snapshot will be forwarded
    if (!msg.force && msg.seq !== null && msg.seq >= this.lastSeq) return;
    const snapshot: StateSnapshotData = { stream_id: this.streamId, seq: this.lastSeq, version: this.version, state: this.state };
    tabs.post({ t: 'state', to: msg.from, head_seq: this.headSeq ?? this.lastSeq, snapshot });
  }

  /** A follower's state cannot go on (gap, patch that does not apply): ignore events until a fresh state. */
  private followerResync(ctx?: Omit<TransportErrorContext, 'willRetry'>): void {
    if (ctx) this.emitError({ ...ctx, willRetry: true });
    this.awaitingSnapshot = true;
    this.updateSync();
    this.tabs?.post({ t: 'join', from: this.tabId, seq: this.hasState ? this.lastSeq : null, force: true });
  }

  // ------------------------------------------------------------------ presence wiring

  private wirePresence(): void {
    const p = this.presence;
    p.on('status', ({ status }) => this.emitter.emit('presence', { type: 'status', status }));
    p.on('peers', (c) => this.emitter.emit('presence', { type: 'peers', ...c }));
    p.on('cursor', (c) => this.emitter.emit('presence', { type: 'cursor', ...c }));
    p.on('gesture', (c) => this.emitter.emit('presence', { type: 'gesture', ...c }));
    p.on('error', (c) => this.emitError({ kind: 'presence', error: c.error, code: c.code, willRetry: c.willRetry }));
  }
}
