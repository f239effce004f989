/**
 * Wire types of the atoms-core realtime routes (CONTRACT §5, §6, §8, §9).
 * Hand-written mirror of atoms-core `protocol/contracts.py` and `protocol/wire.py` (checked against
 * the generated types by contracts-check.ts); the SSE control events are the generated ones.
 * `npm run gen:types` regenerates `src/generated/contracts.ts` from the server's JSON Schemas.
 */
import type { Hello, Resync, StateSnapshot } from './generated/contracts.js';

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type StreamId = `${'canvas' | 'thread' | 'run'}:${string}`;
export type TicketScope = 'read' | 'write' | 'presence';

// ---------------------------------------------------------------- tickets

export interface TicketResponse {
  ticket: string;
  stream_id: string;
  scopes: TicketScope[];
  expires_at: string;
  expires_in: number;
}

// ---------------------------------------------------------------- RFC 6902

export type PatchOperation =
  | { op: 'add'; path: string; value: JsonValue }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: JsonValue }
  | { op: 'move'; path: string; from: string }
  | { op: 'copy'; path: string; from: string }
  | { op: 'test'; path: string; value: JsonValue };

// ---------------------------------------------------------------- events

export type DurableEventType = 'state_patch' | 'token_patch' | 'log' | 'snapshot_created';
export type ControlEventType = 'hello' | 'state_snapshot' | 'resync';

export interface StatePatchData {
  ops: PatchOperation[];
}

export interface TokenPatchData {
  /** JSON Pointer to the string the delta is appended to. */
  target: string;
  delta: string;
  /** This target's chunk counter, starting at 0. */
  index: number;
  final?: boolean;
}

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export interface LogData {
  level: LogLevel;
  message: string;
  fields?: JsonObject | null;
}

export interface MediaRef {
  artifact_id?: string | null;
  uri?: string | null;
  object_id?: string | null;
}

export interface SnapshotCreatedData {
  ref: MediaRef & { [key: string]: JsonValue | undefined };
  seq: number;
  version: number;
  size: number;
  sha256: string;
}

export interface EventDataMap {
  state_patch: StatePatchData;
  token_patch: TokenPatchData;
  log: LogData;
  snapshot_created: SnapshotCreatedData;
}

/** The timeline record; the SSE `data:` of every durable event. */
export interface EventEnvelope<T extends string = string, D = JsonObject> {
  /** `String(seq)`. */
  id: string;
  seq: number;
  stream_id: string;
  type: T;
  /** State version after this event. */
  version: number;
  ts: string;
  actor: string;
  command_id: string;
  data: D;
}

export type TypedEnvelope<K extends DurableEventType> = EventEnvelope<K, EventDataMap[K]>;

/** `hello`: the stream's head when the connection opened. */
export type HelloData = Hello;

/** `state_snapshot`: the whole state as of `seq`. */
export type StateSnapshotData = Omit<StateSnapshot, 'state'> & { state: JsonValue };

/** `resync`: history is gone (`reason` says why); a fresh `state_snapshot` follows. */
export type ResyncData = Resync;

// ---------------------------------------------------------------- commands

export type CommandType = 'state.patch' | 'chat.post' | 'token.append' | 'log.append' | 'snapshot.create';

export type ChatRole = 'user' | 'assistant' | 'system' | 'agent';

export interface ChatPostPayload {
  message_id?: string;
  role: ChatRole;
  text: string;
}

export interface CommandPayloadMap {
  'state.patch': StatePatchData;
  'chat.post': ChatPostPayload;
  'token.append': TokenPatchData;
  'log.append': LogData;
  'snapshot.create': Record<string, never>;
}

export interface CommandEnvelope<T extends CommandType = CommandType> {
  command_id: string;
  type: T;
  stream_id: string;
  payload: CommandPayloadMap[T];
  base_version?: number;
  meta?: JsonObject;
}

export interface CommandResult {
  command_id: string;
  seq: number;
  version: number;
  event_ids: string[];
  duplicate: boolean;
}

export interface BatchResult {
  results: CommandResult[];
  seq: number;
  version: number;
}

/** RFC 9457 problem details with a stable `code` (plus extras). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  current_version?: number;
  pointer?: string;
  expected_index?: number;
  [extra: string]: unknown;
}

// ---------------------------------------------------------------- sidecars

export type MediaKind = 'image' | 'video' | 'audio';

export interface MediaValue {
  kind: MediaKind;
  ref: MediaRef;
  mime: string;
  size?: number;
  sha256?: string;
  width?: number;
  height?: number;
  duration_ms?: number;
}

export interface ArtifactResolution {
  artifact_id: string;
  mime: string;
  size: number;
  sha256: string;
  url: string;
  expires_at: string;
}

// ---------------------------------------------------------------- WebSocket (ephemeral)

export interface WirePeer {
  peer_id: string;
  principal_id: string;
  state: JsonObject;
}

export type WsClientMessage =
  | { type: 'presence.update'; state: JsonObject }
  | { type: 'cursor'; x: number; y: number }
  | { type: 'gesture'; kind: string; data: JsonObject }
  | { type: 'ping'; ts: number };

export interface WirePeerCursor {
  peer_id: string;
  x: number;
  y: number;
}

export type WsServerMessage =
  | { type: 'presence.snapshot'; self: string; peers: WirePeer[] }
  | { type: 'presence.join'; peer: WirePeer }
  | { type: 'presence.leave'; peer_id: string }
  | { type: 'presence.update'; peer_id: string; state: JsonObject }
  | ({ type: 'cursor' } & WirePeerCursor)
  | { type: 'cursors'; cursors: WirePeerCursor[] }
  | { type: 'gesture'; peer_id: string; kind: string; data: JsonObject }
  | { type: 'pong'; ts?: number | null; server_ts?: number }
  | { type: 'error'; code: string; detail: string };

// ---------------------------------------------------------------- injected platform

/** The subset of `fetch` the transport uses; inject one for tests or non-browser hosts. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The subset of a browser `WebSocket` the presence client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketCtor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type GetToken = () => Promise<string>;

/** Connection status of one channel (SSE or WS). */
export type ConnectionStatus = 'connecting' | 'open' | 'closed';

/**
 * Traffic-light sync status: `synced` (green: open and caught up with the head seen at
 * connect), `syncing` (yellow: connecting or replaying), `offline` (red: connection lost,
 * waiting to reconnect, or closed), `blocked` (red: the connection could not even open while the
 * network is up, e.g. the browser's six-connections-per-host pool is exhausted; see `detail`).
 */
export type SyncStatus = 'synced' | 'syncing' | 'offline' | 'blocked';
