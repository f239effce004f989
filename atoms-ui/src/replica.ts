/**
 * The materialised state of one stream, fed with SSE events (from this tab's connection or, for a
 * follower, from the leader's): snapshot, resync, gap and duplicate checks, applying patches
 * (learning the inverse of this user's own ones for undo), and waiters for a seq.
 */
import type { Emitter } from './emitter.js';
import { emitTyped, type StateChangeCause, type TransportEventMap } from './events.js';
import { applyStatePatchWithInverse } from './inverse.js';
import { applyEnvelope } from './patch.js';
import type { SseEvent } from './sse.js';
import type { Connection } from './stream.js';
import type { EventEnvelope, HelloData, JsonValue, PatchOperation, ResyncData, StatePatchData, StateSnapshotData } from './types.js';
import type { UndoHistory } from './undo.js';

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

export class Replica {
  state: JsonValue = {};
  /** Last applied timeline position. */
  lastSeq = 0;
  version = 0;
  hasState = false;
  /** The local state diverged (a patch did not apply): the next connection must not resume. */
  needSnapshot = false;
  /** A fresh snapshot is on its way (after resync, or a follower asked the leader): events wait for it. */
  awaitingSnapshot = false;
  /** Head seq announced by the server (hello / resync), to tell syncing from synced. */
  headSeq: number | undefined;
  private waiters: SeqWaiter[] = [];

  constructor(
    private readonly emitter: Emitter<TransportEventMap>,
    private readonly history: UndoHistory,
    /** Anything that may change whether we are caught up happened. */
    private readonly onSync: () => void,
  ) {}

  caughtUp(): boolean {
    if (this.awaitingSnapshot || !this.hasState) return false;
    return this.headSeq === undefined || this.lastSeq >= this.headSeq;
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

  onSseEvent(ev: SseEvent, conn: Connection): void {
    if (conn.stopped) return;
    const data = parseJson(ev.data);
    switch (ev.type) {
      case 'hello':
        if (!isRecord(data) || typeof data.head_seq !== 'number') return this.protocolError(conn, 'bad hello');
        this.headSeq = data.head_seq;
        this.emitter.emit('hello', data as unknown as HelloData);
        this.onSync();
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
        this.onSync();
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

  applySnapshot(snap: StateSnapshotData): void {
    this.state = snap.state;
    this.lastSeq = snap.seq;
    this.version = typeof snap.version === 'number' ? snap.version : this.version;
    this.hasState = true;
    this.needSnapshot = false;
    this.awaitingSnapshot = false;
    this.history.skippedTo(snap.seq);
    this.emitter.emit('state_snapshot', snap);
    this.emitter.emit('state', { state: this.state, seq: this.lastSeq, version: this.version, cause: 'snapshot' });
    this.onSync();
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
    emitTyped(this.emitter, env, this.state);
    this.emitter.emit('event', { envelope: env });
    this.onSync();
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.seq <= this.lastSeq);
    this.waiters = this.waiters.filter((w) => w.seq > this.lastSeq);
    for (const w of ready) w.resolve();
  }
}
