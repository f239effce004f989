/**
 * Tab sharing: the tabs of one origin that open the same stream share one SSE connection.
 * The holder of a Web Lock named after the stream is the leader and fans the raw SSE events out
 * over a BroadcastChannel; every other tab (a follower) applies them to its own state.
 */

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
