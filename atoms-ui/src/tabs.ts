/**
 * Tab sharing: the tabs of one origin that open the same stream as the same identity share one
 * SSE connection. The holder of a Web Lock named after the stream and the identity is the leader
 * and fans the raw SSE events out over a BroadcastChannel; every other tab (a follower) applies
 * them to its own state. A follower never asks the server itself, so only tabs whose tokens say
 * the same thing may follow one another: another user's tab (or one with other grants) in the
 * same browser keeps a connection of its own, checked by the server against its own token.
 */
import type { ConnectionStatus, StateSnapshotData, SyncStatus } from './types.js';

/** The subset of `navigator.locks` used here. */
export interface LockManagerLike {
  request(name: string, options: { mode?: 'exclusive'; signal?: AbortSignal }, callback: (lock: unknown) => Promise<void>): Promise<unknown>;
}

/** The subset of a BroadcastChannel used here. */
export interface BroadcastChannelLike {
  onmessage: ((ev: { data: unknown }) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}

export type BroadcastChannelCtor = new (name: string) => BroadcastChannelLike;

/** What the tabs of one stream tell each other over the channel. */
export type TabMessage =
  /** leader → all: one raw SSE event as read from the server (followers parse it themselves). */
  | { t: 'sse'; type: string; data: string }
  /** leader → all: its connection status. */
  | { t: 'status'; status: ConnectionStatus; syncStatus: SyncStatus; detail?: string }
  /** follower → leader: "I need the state" (`seq` null: I have none; `force`: mine is unusable). */
  | { t: 'join'; from: string; seq: number | null; force: boolean }
  /** leader → one follower: the leader's materialised state. */
  | { t: 'state'; to: string; head_seq: number; snapshot: StateSnapshotData }
  /** a new leader: followers still waiting for a state ask again. */
  | { t: 'leader' };

export interface TabLinkOptions {
  /** Lock and channel name; the same for every tab of one stream and identity. */
  name: string;
  locks: LockManagerLike;
  BroadcastChannel: BroadcastChannelCtor;
  /** This tab became the leader (it holds the lock until stop()). */
  onLeader: () => void;
  onMessage: (msg: TabMessage) => void;
}

/** Version of the messages below: tabs running another atoms-ui release never share a group. */
export const TAB_PROTOCOL = 1;

/** The Web Lock and BroadcastChannel name of the tab group of one stream and one identity. */
export function tabGroupName(baseUrl: string, streamId: string, identity: string): string {
  return `atoms-ui/${TAB_PROTOCOL}:${baseUrl.replace(/\/+$/, '')}:${streamId}:${identity}`;
}

/** Claims that change with every token of the same identity (a refresh), not who it is or may do. */
const PER_TOKEN_CLAIMS = new Set(['iat', 'exp', 'nbf', 'jti', 'auth_time']);

/**
 * Who an identity JWT speaks for: its payload without the per-token claims, as canonical JSON
 * (principal, tenant, issuer, audience, roles, grants: two tokens that differ in any of these never
 * share a tab group). Not verified here, the server does that for the leader's ticket; undefined
 * when the token is no JWT, and such a tab does not share.
 */
export function identityKey(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  let claims: unknown;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    claims = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return undefined;
  const stable = Object.entries(claims).filter(([k]) => !PER_TOKEN_CLAIMS.has(k));
  return canonical(Object.fromEntries(stable));
}

/** JSON with object keys sorted at every level, so equal claims give equal names. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The platform pieces tab sharing needs. */
export interface TabPlatform {
  locks: LockManagerLike;
  BroadcastChannel: BroadcastChannelCtor;
}

/** The platform pieces for tab sharing, or undefined where this runtime lacks one of them. */
export function platformTabs(): TabPlatform | undefined {
  const g = globalThis as { navigator?: { locks?: LockManagerLike }; BroadcastChannel?: BroadcastChannelCtor };
  const locks = g.navigator?.locks;
  const BC = g.BroadcastChannel;
  return locks && BC ? { locks, BroadcastChannel: BC } : undefined;
}

/**
 * One tab's membership in a stream's tab group: asks for the lock (granted when no other tab
 * holds it, or when the holder closes or its tab goes away) and keeps the channel open.
 */
export class TabLink {
  private readonly opts: TabLinkOptions;
  private channel: BroadcastChannelLike | undefined;
  private lockCtrl: AbortController | undefined;
  private release: (() => void) | undefined;
  private _leader = false;

  constructor(options: TabLinkOptions) {
    this.opts = options;
  }

  get isLeader(): boolean {
    return this._leader;
  }

  start(): void {
    if (this.channel) return;
    const channel = new this.opts.BroadcastChannel(this.opts.name);
    this.channel = channel;
    channel.onmessage = (ev) => {
      if (this.channel === channel && isTabMessage(ev.data)) this.opts.onMessage(ev.data);
    };
    const ctrl = new AbortController();
    this.lockCtrl = ctrl;
    this.opts.locks
      .request(this.opts.name, { mode: 'exclusive', signal: ctrl.signal }, () => {
        if (ctrl.signal.aborted) return Promise.resolve();
        this._leader = true;
        const held = new Promise<void>((resolve) => (this.release = resolve));
        this.opts.onLeader();
        return held;
      })
      .catch(() => undefined); // aborted while waiting: stop() was called
  }

  post(msg: TabMessage): void {
    this.channel?.postMessage(msg);
  }

  /** Leaves the group: releases the lock (the next tab in line takes over) and closes the channel. */
  stop(): void {
    this.lockCtrl?.abort();
    this.lockCtrl = undefined;
    this.release?.();
    this.release = undefined;
    this._leader = false;
    this.channel?.close();
    this.channel = undefined;
  }
}

function isTabMessage(v: unknown): v is TabMessage {
  return typeof v === 'object' && v !== null && typeof (v as { t?: unknown }).t === 'string';
}
