/**
 * Tab sharing: the tabs of one origin that open the same stream share one SSE connection.
 * The holder of a Web Lock named after the stream is the leader and fans the raw SSE events out
 * over a BroadcastChannel; every other tab (a follower) applies them to its own state.
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
  /** Lock and channel name; the same for every tab of one stream. */
  name: string;
  locks: LockManagerLike;
  BroadcastChannel: BroadcastChannelCtor;
  /** This tab became the leader (it holds the lock until stop()). */
  onLeader: () => void;
  onMessage: (msg: TabMessage) => void;
}

/** The platform pieces for tab sharing, or undefined where this runtime lacks one of them. */
export function platformTabs(): { locks: LockManagerLike; BroadcastChannel: BroadcastChannelCtor } | undefined {
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
