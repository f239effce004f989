/**
 * The public vocabulary of CanvasTransport: its options, events and their context objects,
 * and the dispatch of a durable event to its typed hook.
 */
import type { PeerInfo, PeersChange, PresenceClientOptions } from './presence.js';
import type { BroadcastChannelCtor, LockManagerLike } from './tabs.js';
import type { BackoffOptions } from './backoff.js';
import type { Emitter } from './emitter.js';
import { getAtPointer } from './patch.js';
import type {
  CommandPayloadMap,
  CommandType,
  ConnectionStatus,
  EventEnvelope,
  FetchLike,
  GetToken,
  HelloData,
  JsonObject,
  JsonValue,
  LogData,
  PatchOperation,
  Problem,
  ResyncData,
  SnapshotCreatedData,
  StateSnapshotData,
  SyncStatus,
  TokenPatchData,
  TypedEnvelope,
  WebSocketCtor,
} from './types.js';

export type PresenceTuning = Pick<PresenceClientOptions, 'pingIntervalMs' | 'pongTimeoutMs' | 'scheduleFrame' | 'cursorIntervalMs'>;

export interface CanvasTransportOptions {
  /** atoms-core base URL, e.g. "https://api.example.com". */
  baseUrl: string;
  /** `canvas:<id>`, `thread:<id>` or `run:<id>`. */
  streamId: string;
  /** Returns the caller's identity JWT; called for every ticket and artifact lookup. */
  getToken: GetToken;
  /** Defaults to the global fetch. */
  fetch?: FetchLike;
  /** Defaults to the global WebSocket. */
  WebSocket?: WebSocketCtor;
  /** ws(s):// base for the presence socket; derived from baseUrl by default. */
  wsBaseUrl?: string;
  /** Abort and reconnect when no byte arrives for this long (default 35 000 ms). */
  heartbeatTimeoutMs?: number;
  /** Reconnect backoff (full jitter; base 250 ms, cap 10 s). */
  backoff?: BackoffOptions;
  /** Retries for a command after network errors / 5xx (default 4). */
  commandRetries?: number;
  /** Open the presence WebSocket on connect() (default true), optionally with tuning. */
  presence?: boolean | PresenceTuning;
  /** Cached write tickets and artifact URLs are renewed this long before expiry (default 5000 ms). */
  expirySkewMs?: number;
  /** Command id generator (default UUID v4). */
  generateId?: () => string;
  now?: () => number;
  /**
   * Share one SSE connection per stream among this origin's tabs (leader elected with Web Locks,
   * events fanned out over BroadcastChannel). Default true where both exist.
   */
  shareAcrossTabs?: boolean;
  /** Defaults to `navigator.locks`; inject one for tests. */
  locks?: LockManagerLike;
  /** Defaults to the global BroadcastChannel; inject one for tests. */
  BroadcastChannel?: BroadcastChannelCtor;
  /**
   * A connect attempt (ticket + SSE response headers) still unanswered after this long while the
   * network is up means the browser has no free connection for it: syncStatus `blocked` (default 10 000 ms).
   */
  openTimeoutMs?: number;
  /** Whether the device is online; defaults to `navigator.onLine` (true where unknown). */
  isOnline?: () => boolean;
}

export type StateChangeCause = 'snapshot' | 'state_patch' | 'token_patch';

export interface StateChange {
  state: JsonValue;
  seq: number;
  version: number;
  cause: StateChangeCause;
  envelope?: EventEnvelope;
}

export type TransportErrorKind = 'auth' | 'http' | 'network' | 'heartbeat' | 'gap' | 'protocol' | 'patch' | 'presence';

export interface TransportErrorContext {
  kind: TransportErrorKind;
  error: Error;
  status?: number;
  code?: string;
  problem?: Problem;
  /** False when the transport gave up (it is then `closed`). */
  willRetry: boolean;
}

export interface StatusContext {
  status: ConnectionStatus;
  syncStatus: SyncStatus;
  previous: ConnectionStatus;
  /** Commands issued but not yet acknowledged by the server (see `pendingCommands`). */
  pending: number;
  /** Why, when `syncStatus` is `blocked`. */
  detail?: string;
}

export type UndoOutcome = 'applied' | 'skipped' | 'empty';
export type UndoDirection = 'undo' | 'redo';

export interface HistoryChange {
  canUndo: boolean;
  canRedo: boolean;
}

export interface UndoSkipped {
  direction: UndoDirection;
  /** The server's problem code (`patch_failed`: the change was edited or deleted since). */
  reason: string;
  detail?: string;
}

/** A command issued by this transport and not yet acknowledged by the server. */
export type PendingCommand = {
  [T in CommandType]: { command_id: string; type: T; payload: CommandPayloadMap[T]; queuedAt: number };
}[CommandType];

export interface PendingChange {
  count: number;
  commands: PendingCommand[];
}

/** `leader` owns the SSE connection for this stream's tabs, `follower` gets it over BroadcastChannel. */
export type TabRole = 'leader' | 'follower' | 'solo';

export type PresenceChange =
  | { type: 'status'; status: ConnectionStatus }
  | { type: 'peers'; peers: ReadonlyMap<string, PeerInfo>; change: PeersChange; peerId?: string }
  | { type: 'cursor'; peerId: string; x: number; y: number; peer: PeerInfo | undefined }
  | { type: 'gesture'; peerId: string; kind: string; data: JsonObject; peer: PeerInfo | undefined };

export interface TransportEventMap {
  /** The materialised state changed. */
  state: StateChange;
  /** Every durable event envelope, after it was applied. */
  event: { envelope: EventEnvelope };
  state_patch: { envelope: TypedEnvelope<'state_patch'>; ops: PatchOperation[] };
  /** `value` is the whole string at `target` after the append. */
  token_patch: TokenPatchData & { envelope: TypedEnvelope<'token_patch'>; final: boolean; value: string | undefined };
  log: LogData & { envelope: TypedEnvelope<'log'> };
  snapshot_created: SnapshotCreatedData & { envelope: TypedEnvelope<'snapshot_created'> };
  hello: HelloData;
  state_snapshot: StateSnapshotData;
  resync: ResyncData;
  status: StatusContext;
  error: TransportErrorContext;
  presence: PresenceChange;
  history: HistoryChange;
  undo_skipped: UndoSkipped;
  pending: PendingChange;
  tab_role: { role: TabRole };
}

/** Emits the typed hook of a durable event (`state_patch`, `token_patch`, `log`, `snapshot_created`). */
export function emitTyped(emitter: Emitter<TransportEventMap>, env: EventEnvelope, state: JsonValue): void {
  switch (env.type) {
    case 'state_patch': {
      const e = env as unknown as TypedEnvelope<'state_patch'>;
      emitter.emit('state_patch', { envelope: e, ops: e.data.ops });
      break;
    }
    case 'token_patch': {
      const e = env as unknown as TypedEnvelope<'token_patch'>;
      const v = getAtPointer(state, e.data.target);
      emitter.emit('token_patch', {
        ...e.data,
        final: e.data.final === true,
        envelope: e,
        value: typeof v === 'string' ? v : undefined,
      });
      break;
    }
    case 'log': {
      const e = env as unknown as TypedEnvelope<'log'>;
      emitter.emit('log', { ...e.data, envelope: e });
      break;
    }
    case 'snapshot_created': {
      const e = env as unknown as TypedEnvelope<'snapshot_created'>;
      emitter.emit('snapshot_created', { ...e.data, envelope: e });
      break;
    }
    default:
      break;
  }
}
