/**
 * CanvasTransport (CONTRACT §11): the one client of the realtime routes.
 * SSE (via fetch streaming) is downstream truth; commands go up over HTTP; the WebSocket
 * carries presence only. Keeps the materialised state of one stream.
 */
import { Backoff } from './backoff.js';
import { type BatchItem, CommandClient, type CommandOptions } from './commands.js';
import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import {
  type CanvasTransportOptions,
  type PendingCommand,
  type PresenceTuning,
  type StateChange,
  type StatusContext,
  type TabRole,
  type TransportErrorContext,
  type TransportEventMap,
  type UndoOutcome,
} from './events.js';
import { STREAM_ID_RE } from './generated/contracts.js';
import { getAtPointer } from './patch.js';
import { PendingQueue } from './pending.js';
import { PresenceClient } from './presence.js';
import { Replica } from './replica.js';
import { SidecarResolver } from './sidecars.js';
import { EventStream, type EventStreamHost } from './stream.js';
import { TabSharing, type TabSharingHost } from './tab_sharing.js';
import { platformTabs } from './tabs.js';
import { TicketClient } from './tickets.js';
import type {
  BatchResult,
  CommandPayloadMap,
  CommandResult,
  CommandType,
  ConnectionStatus,
  FetchLike,
  JsonValue,
  MediaRef,
  MediaValue,
  SyncStatus,
  WebSocketCtor,
} from './types.js';
import { type StepKind, UndoHistory, type UndoSender } from './undo.js';
import { toWsBase } from './url.js';

export type * from './events.js';

/** A prefixed stream id (`canvas:<id>`), by the charset generated from atoms_core.protocol.ids. */
export function isStreamId(s: string): boolean {
  return STREAM_ID_RE.test(s);
}

export class CanvasTransport {
  readonly streamId: string;
  readonly presence: PresenceClient;

  private readonly opts: CanvasTransportOptions;
  private readonly emitter = new Emitter<TransportEventMap>();
  private readonly wsCtor: WebSocketCtor | undefined;
  private readonly tickets: TicketClient;
  private readonly commands: CommandClient;
  private readonly sidecars: SidecarResolver;
  private readonly backoff: Backoff;

  private readonly replica: Replica;
  private _status: ConnectionStatus = 'closed';
  private _syncStatus: SyncStatus = 'offline';
  private _detail: string | undefined;
  private running = false;
  private readonly stream: EventStream;
  private readonly history: UndoHistory;
  private readonly undoSender: UndoSender = {
    send: (ops, kind) => this.issue('state.patch', { ops }, {}, kind),
    waitForSeq: (seq) => this.waitForSeq(seq),
    skipped: (e) => this.emitter.emit('undo_skipped', e),
  };
  private readonly queue: PendingQueue;
  /** Sharing one SSE connection with the origin's other tabs (undefined: this tab connects alone). */
  private readonly sharing: TabSharing | undefined;

  constructor(options: CanvasTransportOptions) {
    if (!isStreamId(options.streamId)) throw new TypeError(`invalid stream id "${options.streamId}"`);
    if (typeof options.getToken !== 'function') throw new TypeError('getToken is required');
    this.opts = options;
    this.streamId = options.streamId;
    const globalFetch = (globalThis as { fetch?: FetchLike }).fetch;
    const f = options.fetch ?? (globalFetch ? globalFetch.bind(globalThis) : undefined);
    if (!f) throw new TypeError('no fetch available: pass options.fetch');
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
    this.stream = new EventStream(
      {
        baseUrl: options.baseUrl,
        streamId: options.streamId,
        fetch: f,
        tickets: this.tickets,
        backoff: this.backoff,
        heartbeatTimeoutMs: options.heartbeatTimeoutMs,
        openTimeoutMs: options.openTimeoutMs,
        isOnline: options.isOnline,
        networkEvents: options.networkEvents,
      },
      this.streamHost(),
    );
    this.history = new UndoHistory((h) => this.emitter.emit('history', h));
    this.replica = new Replica(this.emitter, this.history, () => this.updateSync());
    this.queue = new PendingQueue({
      client: this.commands,
      now: options.now ?? Date.now,
      backoff: options.backoff,
      onChange: (commands) => {
        this.emitter.emit('pending', { count: commands.length, commands: [...commands] });
        this.emitStatus(this._status);
      },
    });
    const tabPlatform = options.shareAcrossTabs === false ? undefined : options.locks && options.BroadcastChannel
      ? { locks: options.locks, BroadcastChannel: options.BroadcastChannel }
      : platformTabs();
    this.sharing = tabPlatform && new TabSharing(tabPlatform, options.baseUrl, options.streamId, this.sharingHost());
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
    return this.replica.state;
  }

  /** Value at a JSON Pointer in the materialised state. */
  get(pointer: string): JsonValue | undefined {
    return getAtPointer(this.replica.state, pointer);
  }

  /** Last applied timeline position. */
  getSeq(): number {
    return this.replica.lastSeq;
  }

  /** State version after the last applied event. */
  getVersion(): number {
    return this.replica.version;
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
    if (this.sharing) {
      this.replica.awaitingSnapshot = !this.replica.hasState;
      this.setStatus('connecting', 'syncing');
      void this.sharing.join();
    } else this.stream.start();
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
    this.sharing?.leave(); // hands the connection over to the next tab in line
    if (role !== 'solo') this.emitter.emit('tab_role', { role: 'solo' });
    this.stream.stop();
    this.presence.close();
    this.setStatus('closed', 'offline');
  }

  /** Resolves once an event with seq >= `seq` was applied (e.g. a command's result.seq). */
  waitForSeq(seq: number, signal?: AbortSignal): Promise<void> {
    return this.replica.waitForSeq(seq, signal);
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
      (r) => r.results.forEach((res) => this.history.acked(res.command_id, res.seq, this.replica.lastSeq)),
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
    return this.history.run('undo', this.undoSender);
  }

  /** Redoes the last undone step (same rules as undo). */
  redo(): Promise<UndoOutcome> {
    return this.history.run('redo', this.undoSender);
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
    return this.sharing?.role ?? 'solo';
  }

  private issue<T extends CommandType>(type: T, payload: CommandPayloadMap[T], options: CommandOptions, kind: StepKind): Promise<CommandResult> {
    const env = this.commands.envelope(type, payload, options);
    if (type === 'state.patch') this.history.track(env.command_id, kind);
    const p = this.queue.enqueue([env], false, options.signal) as Promise<CommandResult>;
    if (type === 'state.patch') {
      p.then(
        (r) => this.history.acked(env.command_id, r.seq, this.replica.lastSeq),
        () => this.history.dropped(env.command_id),
      );
    }
    return p;
  }

  // ------------------------------------------------------------------ status

  private setStatus(status: ConnectionStatus, syncStatus: SyncStatus, detail?: string): void {
    if (status === this._status && syncStatus === this._syncStatus && detail === this._detail) return;
    const previous = this._status;
    this._status = status;
    this._syncStatus = syncStatus;
    this._detail = detail;
    this.sharing?.fanOut({ t: 'status', status, syncStatus, ...(detail ? { detail } : {}) });
    if (status === 'open') this.queue.wake();
    this.emitStatus(previous);
  }

  private emitStatus(previous: ConnectionStatus): void {
    const ctx: StatusContext = { status: this._status, syncStatus: this._syncStatus, previous, pending: this.queue.commands.length };
    if (this._detail !== undefined) ctx.detail = this._detail;
    this.emitter.emit('status', ctx);
  }

  private updateSync(): void {
    if (this._status === 'open') this.setStatus('open', this.replica.caughtUp() ? 'synced' : 'syncing');
  }

  /** What the SSE loop needs from the transport. */
  private streamHost(): EventStreamHost {
    const t = this;
    return {
      get status() {
        return t._status;
      },
      get syncStatus() {
        return t._syncStatus;
      },
      setStatus: (status, syncStatus, detail) => this.setStatus(status, syncStatus, detail),
      emitError: (ctx) => this.emitError(ctx),
      resumeFrom: () => (this.replica.hasState && !this.replica.needSnapshot ? this.replica.lastSeq : undefined),
      opened: () => {
        this.replica.headSeq = undefined;
        this.setStatus('open', 'syncing');
        this.updateSync();
      },
      onEvent: (ev, conn) => {
        this.sharing?.fanOut({ t: 'sse', type: ev.type, data: ev.data });
        this.replica.onSseEvent(ev, conn);
      },
      gaveUp: () => {
        this.setStatus('closed', 'offline'); // followers learn it too
        this.running = false;
        this.sharing?.leave(); // the next tab tries with its own credentials
      },
    };
  }

  /** What tab sharing needs from the transport. */
  private sharingHost(): TabSharingHost {
    const t = this;
    return {
      get running() {
        return t.running;
      },
      replica: this.replica,
      stream: this.stream,
      get status() {
        return { status: t._status, syncStatus: t._syncStatus, detail: t._detail };
      },
      setStatus: (status, syncStatus, detail) => this.setStatus(status, syncStatus, detail),
      updateSync: () => this.updateSync(),
      emitError: (ctx) => this.emitError(ctx),
      emitRole: (role) => this.emitter.emit('tab_role', { role }),
      getToken: () => this.opts.getToken(),
    };
  }

  private emitError(ctx: TransportErrorContext): void {
    this.emitter.emit('error', ctx);
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
