/**
 * The outbox: every command this transport issues waits here until the server acknowledged it.
 * Commands are sent in the order they were issued; a network failure (offline) keeps them, and
 * they are re-sent with their original `command_id` (so the server's idempotency makes a
 * re-send of an already committed command harmless) when the connection is back.
 * Queued single commands are sent together as one batch; a refused batch is retried one by one.
 */
import { Backoff, type BackoffOptions } from './backoff.js';
import type { CommandClient } from './commands.js';
import { CommandError } from './errors.js';
import type { PendingCommand } from './events.js';
import { sleep } from './sleep.js';
import type { BatchResult, CommandEnvelope, CommandResult } from './types.js';

/** Most commands coalesced into one request (the server's default `max_batch` is 100). */
export const MAX_COALESCE = 50;
/** Most commands kept while offline; beyond it a new command is refused at once (bounded memory). */
export const MAX_PENDING = 10_000;

interface Unit {
  envs: CommandEnvelope[];
  /** A `commandBatch`: sent alone, all or nothing. */
  atomic: boolean;
  /** Sent alone (it has its own abort signal, or a batch it was part of was refused). */
  solo: boolean;
  signal: AbortSignal | undefined;
  queuedAt: number;
  inFlight: boolean;
  resolve: (r: CommandResult | BatchResult) => void;
  reject: (e: unknown) => void;
}

export interface PendingQueueOptions {
  client: CommandClient;
  now: () => number;
  backoff?: BackoffOptions | undefined;
  /** Called whenever the set of pending commands changed. */
  onChange: (commands: PendingCommand[]) => void;
}

export class PendingQueue {
  private readonly opts: PendingQueueOptions;
  private readonly backoff: Backoff;
  private units: Unit[] = [];
  private draining = false;
  private wakeCtrl = new AbortController();
  private snapshot: PendingCommand[] = [];

  constructor(options: PendingQueueOptions) {
    this.opts = options;
    this.backoff = new Backoff(options.backoff);
  }

  /** Pending commands in sending order (a fresh array after each change). */
  get commands(): readonly PendingCommand[] {
    return this.snapshot;
  }

  /** Queues one command (resolves to its CommandResult) or an atomic batch (to its BatchResult). */
  enqueue(envs: CommandEnvelope[], atomic: boolean, signal?: AbortSignal): Promise<CommandResult | BatchResult> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
    if (this.snapshot.length + envs.length > MAX_PENDING) {
      return Promise.reject(new Error(`more than ${MAX_PENDING} commands pending: the server has been unreachable too long`));
    }
    return new Promise((resolve, reject) => {
      const unit: Unit = { envs, atomic, solo: signal !== undefined, signal, queuedAt: this.opts.now(), inFlight: false, resolve, reject };
      this.units.push(unit);
      signal?.addEventListener('abort', () => !unit.inFlight && this.finish(unit, undefined, signal.reason ?? new Error('aborted')), {
        once: true,
      });
      this.changed();
      void this.drain();
    });
  }

  /** The connection is back (or the device went online): retry a waiting command now. */
  wake(): void {
    this.wakeCtrl.abort();
    this.wakeCtrl = new AbortController();
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.units.length > 0) await this.sendGroup(this.take());
    } finally {
      this.draining = false;
    }
  }

  /** The head unit, plus the plain single commands right behind it. */
  private take(): Unit[] {
    const head = this.units[0] as Unit;
    const group = [head];
    if (head.atomic || head.solo) return group;
    for (const u of this.units.slice(1)) {
      if (u.atomic || u.solo || group.length >= MAX_COALESCE) break;
      group.push(u);
    }
    return group;
  }

  private async sendGroup(group: Unit[]): Promise<void> {
    const { client } = this.opts;
    const head = group[0] as Unit;
    const post = { signal: head.signal, retryNetworkErrors: false };
    for (const u of group) u.inFlight = true;
    try {
      if (group.length === 1 && !head.atomic) this.finish(head, await client.postOne(head.envs[0] as CommandEnvelope, post));
      else if (group.length === 1) this.finish(head, await client.postMany(head.envs, post));
      else this.finishAll(group, (await client.postMany(group.flatMap((u) => u.envs), post)).results);
      this.backoff.reset();
    } catch (err) {
      for (const u of group) u.inFlight = false;
      if (err instanceof CommandError && err.status === 0 && !head.signal?.aborted) {
        await this.offline(); // kept; the next take() also picks up what was queued meanwhile
      } else if (group.length > 1) {
        // refused as a whole (all or nothing, so nothing was committed): each goes alone, in order
        for (const u of group) u.solo = true;
      } else this.finish(head, undefined, err);
    }
  }

  /** Waits before the next attempt: backoff, cut short by wake() or the browser's `online` event. */
  private async offline(): Promise<void> {
    const signal = this.wakeCtrl.signal;
    const target = globalThis as { addEventListener?: (t: string, l: () => void) => void; removeEventListener?: (t: string, l: () => void) => void };
    const onOnline = (): void => this.wake();
    target.addEventListener?.('online', onOnline);
    try {
      await sleep(this.backoff.next(), signal);
    } finally {
      target.removeEventListener?.('online', onOnline);
    }
  }

  private finish(unit: Unit, result: CommandResult | BatchResult | undefined, error?: unknown): void {
    const i = this.units.indexOf(unit);
    if (i < 0) return;
    this.units.splice(i, 1);
    this.changed();
    if (result !== undefined) unit.resolve(result);
    else unit.reject(error);
  }

  /** Settles coalesced single commands with their results, with one change notification. */
  private finishAll(group: Unit[], results: CommandResult[]): void {
    const done = new Set(group);
    this.units = this.units.filter((u) => !done.has(u));
    this.changed();
    group.forEach((u, i) => u.resolve(results[i] as CommandResult));
  }

  private changed(): void {
    this.snapshot = this.units.flatMap((u) =>
      u.envs.map((e) => ({ command_id: e.command_id, type: e.type, payload: e.payload, queuedAt: u.queuedAt }) as PendingCommand),
    );
    this.opts.onChange(this.snapshot);
  }
}
