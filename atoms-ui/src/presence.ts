/**
 * The ephemeral WebSocket: presence, cursors, gestures, ping (CONTRACT §8). Nothing sent
 * here is durable. A fresh `presence` ticket per (re)connect, full-jitter backoff, ping
 * every 10 s with a pong deadline, cursor moves coalesced to one frame per animation frame,
 * own presence state re-sent after every reconnect. A close the server's code table marks fatal
 * (policy 1008, frame too big 1009) ends the client instead: reconnecting would fail the same way.
 */
import { Backoff, type BackoffOptions } from './backoff.js';
import { CLOSE_CODES, reconnectsAfter } from './codes.js';
import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import type { Ticket, TicketClient } from './tickets.js';
import type {
  ConnectionStatus,
  JsonObject,
  WebSocketCtor,
  WebSocketLike,
  WirePeer,
  WirePeerCursor,
  WsClientMessage,
  WsServerMessage,
} from './types.js';
import { wsUrl } from './url.js';

const WS_OPEN = 1;

export interface Cursor {
  x: number;
  y: number;
}

export interface PeerInfo {
  peerId: string;
  principalId: string;
  state: JsonObject;
  cursor?: Cursor;
}

export type PeersChange = 'snapshot' | 'join' | 'leave' | 'update' | 'reset';

export interface PresenceEventMap {
  status: { status: ConnectionStatus };
  peers: { peers: ReadonlyMap<string, PeerInfo>; change: PeersChange; peerId?: string };
  cursor: { peerId: string; x: number; y: number; peer: PeerInfo | undefined };
  gesture: { peerId: string; kind: string; data: JsonObject; peer: PeerInfo | undefined };
  error: { error: Error; code: string; detail: string; willRetry: boolean };
}

export type FrameScheduler = (cb: () => void) => void;

export interface PresenceClientOptions {
  /** ws:// or wss:// base (the transport derives it from `baseUrl`). */
  wsBaseUrl: string;
  streamId: string;
  tickets: TicketClient;
  WebSocket: WebSocketCtor;
  /** Default 10 000 ms. */
  pingIntervalMs?: number;
  /** Close and reconnect when no pong arrives within this (default 10 000 ms). */
  pongTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Schedules the cursor flush; default requestAnimationFrame, else a `cursorIntervalMs` timer. */
  scheduleFrame?: FrameScheduler;
  /** Fallback frame interval without requestAnimationFrame (default 16 ms). */
  cursorIntervalMs?: number;
  now?: () => number;
}

function defaultScheduler(intervalMs: number): FrameScheduler {
  const raf = (globalThis as { requestAnimationFrame?: (cb: () => void) => number }).requestAnimationFrame;
  if (typeof raf === 'function') return (cb) => void raf.call(globalThis, cb);
  return (cb) => void setTimeout(cb, intervalMs);
}

/** A socket is replaced this long before its ticket expires (or at half its life if that is shorter). */
const RENEW_AHEAD_MS = 5_000;

export class PresenceClient {
  private readonly opts: PresenceClientOptions;
  private readonly emitter = new Emitter<PresenceEventMap>();
  private readonly backoff: Backoff;
  private readonly scheduleFrame: FrameScheduler;
  private ws: WebSocketLike | null = null;
  private wanted = false;
  private gen = 0;
  private _status: ConnectionStatus = 'closed';
  private _selfId: string | undefined;
  private _peers: ReadonlyMap<string, PeerInfo> = new Map();
  private ownState: JsonObject | undefined;
  private pendingCursor: Cursor | undefined;
  private cursorScheduled = false;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  private retiredSelf: string | undefined;

  constructor(options: PresenceClientOptions) {
    this.opts = options;
    this.backoff = new Backoff(options.backoff);
    this.scheduleFrame = options.scheduleFrame ?? defaultScheduler(options.cursorIntervalMs ?? 16);
  }

  get status(): ConnectionStatus {
    return this._status;
  }

  /** This connection's peer id (from `presence.snapshot`). */
  get selfId(): string | undefined {
    return this._selfId;
  }

  /** Other peers (self excluded), with their state and last cursor. A new Map on every change. */
  get peers(): ReadonlyMap<string, PeerInfo> {
    return this._peers;
  }

  getState(): JsonObject | undefined {
    return this.ownState;
  }

  on<K extends keyof PresenceEventMap>(event: K, listener: Listener<PresenceEventMap[K]>): Unsubscribe {
    return this.emitter.on(event, listener);
  }

  off<K extends keyof PresenceEventMap>(event: K, listener: Listener<PresenceEventMap[K]>): void {
    this.emitter.off(event, listener);
  }

  connect(): void {
    if (this.wanted) return;
    this.wanted = true;
    void this.open();
  }

  close(): void {
    this.wanted = false;
    this.gen++;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const ws = this.ws;
    this.dropSocket();
    try {
      ws?.close(CLOSE_CODES.NORMAL.code, 'client closed');
    } catch {
      // already closed
    }
    this.pendingCursor = undefined;
    this.setStatus('closed');
  }

  /** Replaces own presence state; sent now if open, and again after every reconnect. */
  setState(state: JsonObject): void {
    this.ownState = state;
    this.send({ type: 'presence.update', state });
  }

  /** Queues a cursor move; only the latest position per animation frame is sent. */
  moveCursor(x: number, y: number): void {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    this.pendingCursor = { x, y };
    if (this.cursorScheduled) return;
    this.cursorScheduled = true;
    this.scheduleFrame(() => this.flushCursor());
  }

  /** Sends a gesture now; returns false (and drops it) when not connected. */
  gesture(kind: string, data: JsonObject = {}): boolean {
    return this.send({ type: 'gesture', kind, data });
  }

  private flushCursor(): void {
    this.cursorScheduled = false;
    const c = this.pendingCursor;
    this.pendingCursor = undefined;
    if (c) this.send({ type: 'cursor', x: c.x, y: c.y });
  }

  private send(msg: WsClientMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WS_OPEN) return false;
    try {
      ws.send(JSON.stringify(msg));
      return true;
    } catch {
      return false;
    }
  }

  private setStatus(status: ConnectionStatus): void {
    if (status === this._status) return;
    this._status = status;
    this.emitter.emit('status', { status });
  }

  private fail(code: string, detail: string, error?: unknown): void {
    const err = error instanceof Error ? error : new Error(`presence ${code}: ${detail}`);
    this.emitter.emit('error', { error: err, code, detail, willRetry: this.wanted });
  }

  private async open(): Promise<void> {
    const gen = ++this.gen;
    this.setStatus('connecting');
    let ticket: Ticket;
    try {
      ticket = await this.opts.tickets.issue(this.opts.streamId, ['presence']);
    } catch (err) {
      if (gen !== this.gen || !this.wanted) return;
      const e = err as { code?: string; message?: string };
      this.fail(e.code ?? 'ticket_failed', e.message ?? String(err), err);
      this.scheduleReconnect();
      return;
    }
    if (gen !== this.gen || !this.wanted) return;
    let ws: WebSocketLike;
    try {
      ws = new this.opts.WebSocket(wsUrl(this.opts.wsBaseUrl, this.opts.streamId, ticket.ticket));
    } catch (err) {
      this.fail('ws_open_failed', String(err), err);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws === ws) this.opened(ws, ticket);
    };
    this.listen(ws);
  }

  private opened(ws: WebSocketLike, ticket: Ticket): void {
    this.backoff.reset();
    this.setStatus('open');
    if (this.ownState) this.send({ type: 'presence.update', state: this.ownState });
    this.startPing();
    const lifetimeMs = ticket.expires_in * 1000;
    const renewIn = Math.max(lifetimeMs - RENEW_AHEAD_MS, lifetimeMs / 2);
    this.renewTimer = setTimeout(() => void this.renew(ws), renewIn);
  }

  /**
   * The server closes a socket when its ticket expires (4001). Shortly before, open the next one and
   * only then let go of this one: the room sees the new connection join before the old one leaves,
   * and this client's peers stay as they are until the new snapshot. If renewing fails, the old
   * socket runs to its expiry and the usual reconnect follows.
   */
  private async renew(old: WebSocketLike): Promise<void> {
    const gen = this.gen;
    let ticket: Ticket;
    try {
      ticket = await this.opts.tickets.issue(this.opts.streamId, ['presence']);
    } catch {
      return;
    }
    if (gen !== this.gen || this.ws !== old) return;
    let next: WebSocketLike;
    try {
      next = new this.opts.WebSocket(wsUrl(this.opts.wsBaseUrl, this.opts.streamId, ticket.ticket));
    } catch {
      return;
    }
    next.onclose = () => {
      next.onopen = next.onclose = null;
    };
    next.onopen = () => {
      next.onopen = next.onclose = null;
      if (gen !== this.gen || this.ws !== old) {
        next.close(CLOSE_CODES.NORMAL.code, 'superseded');
        return;
      }
      this.retiredSelf = this._selfId; // its leave is on the way: never shown as a peer meanwhile
      this.dropSocket(false);
      try {
        old.close(CLOSE_CODES.NORMAL.code, 'renewed');
      } catch {
        // already closed
      }
      this.ws = next;
      this.listen(next);
      this.opened(next, ticket);
    };
  }

  private listen(ws: WebSocketLike): void {
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.handle(ev.data);
    };
    ws.onerror = () => {
      // a close event follows
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.dropSocket();
      if (this.wanted) {
        if (!reconnectsAfter(ev.code)) this.wanted = false; // fatal: the error says willRetry false
        this.fail('ws_closed', `closed ${ev.code}${ev.reason ? ` ${ev.reason}` : ''}`);
      }
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (!this.wanted) {
      this.setStatus('closed');
      return;
    }
    this.setStatus('connecting');
    const delay = this.backoff.next();
    const gen = this.gen;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (gen === this.gen && this.wanted) void this.open();
    }, delay);
  }

  /** Detaches the socket and forgets everything that was tied to it (timers and, unless renewing, peers). */
  private dropSocket(resetPeers = true): void {
    const ws = this.ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    }
    this.ws = null;
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    if (this.pongTimer !== undefined) clearTimeout(this.pongTimer);
    if (this.renewTimer !== undefined) clearTimeout(this.renewTimer);
    this.pingTimer = this.pongTimer = this.renewTimer = undefined;
    if (!resetPeers) return;
    this._selfId = this.retiredSelf = undefined;
    if (this._peers.size > 0) {
      this._peers = new Map();
      this.emitter.emit('peers', { peers: this._peers, change: 'reset' });
    }
  }

  private startPing(): void {
    const now = this.opts.now ?? Date.now;
    this.pingTimer = setInterval(() => {
      this.send({ type: 'ping', ts: now() });
      if (this.pongTimer === undefined) {
        this.pongTimer = setTimeout(() => this.onPongTimeout(), this.opts.pongTimeoutMs ?? 10_000);
      }
    }, this.opts.pingIntervalMs ?? 10_000);
  }

  private onPongTimeout(): void {
    const ws = this.ws;
    this.dropSocket();
    try {
      ws?.close(CLOSE_CODES.PONG_TIMEOUT.code, 'pong timeout');
    } catch {
      // ignore
    }
    this.fail('pong_timeout', 'no pong from the server in time');
    this.scheduleReconnect();
  }

  private peerFrom(p: WirePeer): PeerInfo {
    return { peerId: p.peer_id, principalId: p.principal_id, state: p.state ?? {} };
  }

  private setPeers(next: Map<string, PeerInfo>, change: PeersChange, peerId?: string): void {
    this._peers = next;
    this.emitter.emit('peers', { peers: next, change, ...(peerId !== undefined ? { peerId } : {}) });
  }

  private applyCursor(c: WirePeerCursor, self: string | undefined): void {
    if (c.peer_id === self || typeof c.x !== 'number' || typeof c.y !== 'number') return;
    const prev = this._peers.get(c.peer_id);
    const peer: PeerInfo = { ...(prev ?? { peerId: c.peer_id, principalId: '', state: {} }), cursor: { x: c.x, y: c.y } };
    const next = new Map(this._peers);
    next.set(c.peer_id, peer);
    this._peers = next;
    this.emitter.emit('cursor', { peerId: c.peer_id, x: c.x, y: c.y, peer });
  }

  private handle(raw: unknown): void {
    let msg: WsServerMessage;
    try {
      msg = JSON.parse(String(raw)) as WsServerMessage;
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null || typeof msg.type !== 'string') return;
    const self = this._selfId;
    switch (msg.type) {
      case 'presence.snapshot': {
        this._selfId = msg.self;
        const next = new Map<string, PeerInfo>();
        for (const p of msg.peers ?? []) {
          if (p.peer_id !== msg.self && p.peer_id !== this.retiredSelf) next.set(p.peer_id, this.peerFrom(p));
        }
        this.setPeers(next, 'snapshot');
        break;
      }
      case 'presence.join': {
        if (!msg.peer || msg.peer.peer_id === self || msg.peer.peer_id === this.retiredSelf) return;
        const next = new Map(this._peers);
        next.set(msg.peer.peer_id, this.peerFrom(msg.peer));
        this.setPeers(next, 'join', msg.peer.peer_id);
        break;
      }
      case 'presence.leave': {
        if (!this._peers.has(msg.peer_id)) return;
        const next = new Map(this._peers);
        next.delete(msg.peer_id);
        this.setPeers(next, 'leave', msg.peer_id);
        break;
      }
      case 'presence.update': {
        if (msg.peer_id === self) return;
        const prev = this._peers.get(msg.peer_id);
        const next = new Map(this._peers);
        next.set(msg.peer_id, { ...(prev ?? { peerId: msg.peer_id, principalId: '' }), state: msg.state ?? {} });
        this.setPeers(next, 'update', msg.peer_id);
        break;
      }
      case 'cursor':
        this.applyCursor(msg, self);
        break;
      case 'cursors':
        // The server batches the cursors that moved since its last flush (ws_cursor_hz).
        for (const c of Array.isArray(msg.cursors) ? msg.cursors : []) this.applyCursor(c, self);
        break;
      case 'gesture':
        if (msg.peer_id === self) return;
        this.emitter.emit('gesture', {
          peerId: msg.peer_id,
          kind: msg.kind,
          data: msg.data ?? {},
          peer: this._peers.get(msg.peer_id),
        });
        break;
      case 'pong':
        if (this.pongTimer !== undefined) clearTimeout(this.pongTimer);
        this.pongTimer = undefined;
        break;
      case 'error':
        this.emitter.emit('error', {
          error: new Error(`presence ${msg.code}: ${msg.detail}`),
          code: msg.code,
          detail: msg.detail,
          willRetry: this.wanted,
        });
        break;
      default:
        break;
    }
  }
}
