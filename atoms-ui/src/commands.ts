/**
 * Commands: `POST /v1/streams/{stream_id}/commands` with a cached write-scope ticket.
 * Network failures and 5xx are retried (bounded, full-jitter backoff, Retry-After honoured)
 * with the SAME command_id, so the server's idempotency makes the retry safe. 4xx are never
 * retried, except one retry with a fresh ticket on 401 (the ticket, not the command, was refused).
 */
import { Backoff, type BackoffOptions } from './backoff.js';
import { isRetryableStatus } from './codes.js';
import { AtomsHttpError, CommandError, errorFromResponse, isAbortError, networkError } from './errors.js';
import { uuid } from './ids.js';
import { sleep } from './sleep.js';
import type { TicketClient } from './tickets.js';
import type {
  BatchResult,
  CommandEnvelope,
  CommandPayloadMap,
  CommandResult,
  CommandType,
  FetchLike,
  JsonObject,
} from './types.js';
import { commandsUrl } from './url.js';

export interface CommandOptions {
  /** Sent as `base_version`: the server refuses with 409 `version_conflict` if state moved on. */
  baseVersion?: number;
  /** Idempotency key; a UUID v4 by default. */
  commandId?: string;
  meta?: JsonObject;
  signal?: AbortSignal;
}

export interface PostOptions {
  signal?: AbortSignal | undefined;
  /** False: a network error (status 0) throws at once, for a caller that keeps the command pending. */
  retryNetworkErrors?: boolean;
}

export type BatchItem = {
  [T in CommandType]: { type: T; payload: CommandPayloadMap[T] } & Omit<CommandOptions, 'signal'>;
}[CommandType];

export interface CommandClientOptions {
  baseUrl: string;
  streamId: string;
  fetch: FetchLike;
  tickets: TicketClient;
  /** Retries after the first attempt for network errors / 5xx (default 4). */
  maxRetries?: number;
  backoff?: BackoffOptions;
  generateId?: () => string;
}

export class CommandClient {
  private readonly opts: CommandClientOptions;

  constructor(options: CommandClientOptions) {
    this.opts = options;
  }

  envelope<T extends CommandType>(type: T, payload: CommandPayloadMap[T], o: Omit<CommandOptions, 'signal'> = {}): CommandEnvelope<T> {
    const env: CommandEnvelope<T> = {
      command_id: o.commandId ?? (this.opts.generateId ?? uuid)(),
      type,
      stream_id: this.opts.streamId,
      payload,
    };
    if (o.baseVersion !== undefined) env.base_version = o.baseVersion;
    if (o.meta !== undefined) env.meta = o.meta;
    return env;
  }

  async send<T extends CommandType>(type: T, payload: CommandPayloadMap[T], options: CommandOptions = {}): Promise<CommandResult> {
    return this.postOne(this.envelope(type, payload, options), options);
  }

  async sendBatch(items: readonly BatchItem[], options: { signal?: AbortSignal } = {}): Promise<BatchResult> {
    return this.postMany(
      items.map((i) => this.envelope(i.type, i.payload as never, i)),
      options,
    );
  }

  /** POSTs one envelope as built by {@link envelope} (a retry keeps its command_id). */
  postOne(env: CommandEnvelope, options: PostOptions = {}): Promise<CommandResult> {
    return this.post<CommandResult>(env, env.command_id, options);
  }

  /** POSTs envelopes as one all-or-nothing batch. */
  postMany(envs: readonly CommandEnvelope[], options: PostOptions = {}): Promise<BatchResult> {
    return this.post<BatchResult>(envs, envs.map((e) => e.command_id).join(','), options);
  }

  private async post<R>(body: unknown, commandId: string, options: PostOptions): Promise<R> {
    const { signal } = options;
    const { fetch, tickets, streamId } = this.opts;
    const maxRetries = this.opts.maxRetries ?? 4;
    const backoff = new Backoff(this.opts.backoff);
    const json = JSON.stringify(body);
    const what = `POST /v1/streams/${streamId}/commands`;
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      let err: AtomsHttpError;
      try {
        const ticket = await tickets.cached(streamId, ['write']);
        const res = await fetch(commandsUrl(this.opts.baseUrl, streamId), {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${ticket.ticket}`,
            'Content-Type': 'application/json',
            Accept: 'application/json, application/problem+json',
          },
          body: json,
          ...(signal ? { signal } : {}),
        });
        if (res.ok) {
          try {
            return (await res.json()) as R;
          } catch (e) {
            throw new CommandError(
              new AtomsHttpError(`${what}: unreadable ${res.status} body`, { status: res.status, code: 'protocol_error', cause: e }),
              commandId,
              attempt,
            );
          }
        }
        err = await errorFromResponse(res, what);
      } catch (e) {
        if (e instanceof CommandError) throw e;
        if (signal?.aborted || isAbortError(e)) throw e;
        err = e instanceof AtomsHttpError ? e : networkError(what, e);
      }
      if (err.status === 401 && !authRetried) {
        authRetried = true;
        tickets.invalidate();
        continue;
      }
      const offline = err.status === 0 && options.retryNetworkErrors === false;
      if (offline || !isRetryableStatus(err.status) || attempt > maxRetries) throw new CommandError(err, commandId, attempt);
      await sleep(Math.max(backoff.next(), err.retryAfterMs ?? 0), signal);
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    }
  }
}
