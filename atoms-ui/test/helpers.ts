import { applyStatePatch, CanvasTransport, type CanvasTransportOptions, type EventEnvelope, type FetchLike, type JsonObject, type JsonValue, type PatchOperation, type WebSocketLike } from '../src/index.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

export interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

function headersOf(init?: RequestInit): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init?.headers).forEach((v, k) => {
    out[k.toLowerCase()] = v;
  });
  return out;
}

/** A server-controlled SSE body. Errors with AbortError when the request is aborted, like fetch. */
export class SseStream {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  closed = false;
  aborted = false;

  constructor(signal?: AbortSignal | null) {
    this.body = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.controller = c;
      },
      cancel: () => {
        this.closed = true;
      },
    });
    signal?.addEventListener('abort', () => {
      this.aborted = true;
      this.error(new DOMException('The operation was aborted.', 'AbortError'));
    });
  }

  push(text: string | Uint8Array): void {
    if (this.closed) return;
    try {
      this.controller.enqueue(typeof text === 'string' ? enc(text) : text);
    } catch {
      this.closed = true;
    }
  }

  event(type: string, data: unknown, id?: number | string): void {
    this.push(`${id !== undefined ? `id: ${id}\n` : ''}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  envelope(env: EventEnvelope): void {
    this.event(env.type, env, env.seq);
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.controller.close();
    } catch {
      // already errored
    }
  }

  error(e: unknown): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.controller.error(e);
    } catch {
      // ignore
    }
  }
}

export type Route = (call: Call, init: RequestInit | undefined) => Response | Promise<Response> | undefined;

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });

export const problem = (status: number, code: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response =>
  json(status, { type: `https://atoms.dev/problems/${code}`, title: code, status, detail: `${code} detail`, code, ...extra }, headers);

/**
 * A fake atoms-core: tickets are issued as t1, t2, ...; each SSE request opens a new
 * {@link SseStream} (or answers with `sseResponses.shift()` if queued); commands go to `onCommand`.
 */
export class FakeServer {
  calls: Call[] = [];
  streams: SseStream[] = [];
  sseRequests: Call[] = [];
  ticketRequests: Call[] = [];
  commandRequests: Call[] = [];
  sseResponses: (() => Response)[] = [];
  ticketResponses: (() => Response)[] = [];
  ticketTtl = 60;
  private ticketN = 0;
  onCommand: (call: Call, n: number) => Response | Promise<Response> = (call) => {
    const body = JSON.parse(call.body ?? '{}') as { command_id: string };
    return json(202, { command_id: body.command_id, seq: 1, version: 1, event_ids: ['1'], duplicate: false });
  };
  extra: Route | undefined;
  /** Called once the response of a new SSE request is out (to send hello, snapshot, replay). */
  onSseOpen: ((stream: SseStream, call: Call) => void) | undefined;

  readonly fetch: FetchLike = async (url, init) => {
    const call: Call = { url, method: init?.method ?? 'GET', headers: headersOf(init), body: init?.body as string | undefined };
    this.calls.push(call);
    const extra = this.extra?.(call, init);
    if (extra) return extra;
    const path = new URL(url).pathname;
    if (path.endsWith('/v1/tickets')) {
      this.ticketRequests.push(call);
      const queued = this.ticketResponses.shift();
      if (queued) return queued();
      const req = JSON.parse(call.body ?? '{}') as { stream_id: string; scopes: string[] };
      this.ticketN++;
      return json(201, {
        ticket: `t${this.ticketN}`,
        stream_id: req.stream_id,
        scopes: req.scopes,
        expires_at: new Date(Date.now() + this.ticketTtl * 1000).toISOString(),
        expires_in: this.ticketTtl,
      });
    }
    if (path.endsWith('/events')) {
      this.sseRequests.push(call);
      const queued = this.sseResponses.shift();
      if (queued) return queued();
      if (init?.signal?.aborted) throw new DOMException('aborted', 'AbortError');
      const s = new SseStream(init?.signal);
      this.streams.push(s);
      queueMicrotask(() => this.onSseOpen?.(s, call));
      return new Response(s.body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
    }
    if (path.endsWith('/commands')) {
      this.commandRequests.push(call);
      return this.onCommand(call, this.commandRequests.length);
    }
    return problem(404, 'not_found');
  };

  get lastStream(): SseStream {
    const s = this.streams[this.streams.length - 1];
    if (!s) throw new Error('no SSE stream yet');
    return s;
  }
}

let seqCounter = 0;
export function envelope(seq: number, type: string, data: JsonObject | object, version = 0, streamId = 'canvas:demo'): EventEnvelope {
  seqCounter++;
  return {
    id: String(seq),
    seq,
    stream_id: streamId,
    type,
    version,
    ts: new Date(0).toISOString(),
    actor: 'user:alice',
    command_id: `c${seqCounter}`,
    data: data as JsonObject,
  };
}

/** A fake browser WebSocket driven by the test. */
export class FakeWebSocket implements WebSocketLike {
  static instances: FakeWebSocket[] = [];
  static reset(): void {
    FakeWebSocket.instances = [];
  }
  static get last(): FakeWebSocket {
    const ws = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (!ws) throw new Error('no socket yet');
    return ws;
  }

  readyState = 0;
  sent: string[] = [];
  closedWith: { code?: number; reason?: string } | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  get messages(): Record<string, unknown>[] {
    return this.sent.map((s) => JSON.parse(s) as Record<string, unknown>);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { ...(code !== undefined ? { code } : {}), ...(reason !== undefined ? { reason } : {}) };
    this.readyState = 3;
  }

  // --- server side
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(msg: unknown): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  serverClose(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

export const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Committed {
  command_id: string;
  seq: number;
  version: number;
}

/**
 * A fake atoms-core with a real timeline: commands (single or batch) are applied with RFC 6902
 * semantics (a failing `test` op is 422 patch_failed, nothing partial), a repeated command_id
 * returns the first result, every event goes to every open stream, and a stream opened with
 * Last-Event-ID gets exactly the events after it.
 */
export class LiveServer extends FakeServer {
  state: JsonValue = {};
  events: EventEnvelope[] = [];
  version = 0;
  /** False: every command POST fails with a network error (the device is offline). */
  reachable = true;
  /** True: every request fails with a network error, as when the device is offline. */
  offline = false;
  private readonly committed = new Map<string, Committed>();

  constructor(readonly streamId = 'canvas:demo') {
    super();
    const inner = this.fetch;
    (this as { fetch: FetchLike }).fetch = async (url, init) => {
      if (this.offline) throw new TypeError('Failed to fetch');
      return inner(url, init);
    };
    this.onSseOpen = (s, call) => {
      const last = call.headers['last-event-id'];
      const head = this.events.length;
      s.event('hello', { stream_id: this.streamId, head_seq: head, version: this.version });
      if (last === undefined) s.event('state_snapshot', { stream_id: this.streamId, seq: head, version: this.version, state: this.state }, head);
      else for (const e of this.events.slice(Number(last))) s.envelope(e);
    };
    this.onCommand = (call) => {
      if (!this.reachable) throw new TypeError('Failed to fetch');
      const body = JSON.parse(call.body ?? '{}') as Cmd | Cmd[];
      if (!Array.isArray(body)) {
        const r = this.apply([body]);
        return 'status' in r ? r : json(202, r[0]);
      }
      const r = this.apply(body);
      if ('status' in r) return r;
      const lastR = r[r.length - 1]!;
      return json(202, { results: r, seq: lastR.seq, version: lastR.version });
    };
  }

  /** Another user's change, committed and fanned out. */
  commitAs(actor: string, ops: PatchOperation[]): void {
    const r = this.apply([{ command_id: `other-${this.events.length + 1}`, type: 'state.patch', payload: { ops } }], actor);
    if ('status' in r) throw new Error('the other user\'s patch does not apply');
  }

  private apply(cmds: Cmd[], actor = 'user:alice'): (Committed & { event_ids: string[]; duplicate: boolean })[] | Response {
    const fresh = cmds.filter((c) => !this.committed.has(c.command_id));
    let state = this.state;
    try {
      for (const c of fresh) if (c.type === 'state.patch') state = applyStatePatch(state, c.payload.ops);
    } catch {
      return problem(422, 'patch_failed');
    }
    const out = cmds.map((c) => {
      const first = this.committed.get(c.command_id);
      if (first) return { ...first, event_ids: [String(first.seq)], duplicate: true };
      if (c.type === 'state.patch') {
        this.state = applyStatePatch(this.state, c.payload.ops);
        this.version++;
      }
      const seq = this.events.length + 1;
      const env: EventEnvelope = {
        id: String(seq), seq, stream_id: this.streamId, type: c.type === 'state.patch' ? 'state_patch' : 'log',
        version: this.version, ts: new Date(0).toISOString(), actor, command_id: c.command_id,
        data: (c.type === 'state.patch' ? { ops: c.payload.ops } : { level: 'info', message: c.type }) as JsonObject,
      };
      this.events.push(env);
      for (const s of this.streams) s.envelope(env);
      const done = { command_id: c.command_id, seq, version: this.version };
      this.committed.set(c.command_id, done);
      return { ...done, event_ids: [String(seq)], duplicate: false };
    });
    return out;
  }
}

interface Cmd {
  command_id: string;
  type: string;
  payload: { ops: PatchOperation[] };
}

/**
 * One browser profile's tab plumbing for tests: an exclusive Web Locks manager and a
 * BroadcastChannel that delivers structured clones to the other channels of the same name,
 * asynchronously and in order, like the real ones.
 */
export class TabWorld {
  private readonly holders = new Map<string, boolean>();
  private readonly waiting = new Map<string, { grant: () => void; signal: AbortSignal | undefined }[]>();
  private readonly channels = new Set<{ name: string; closed: boolean; index: number; deliver: (data: unknown) => void }>();
  private opened = 0;
  posted: unknown[] = [];
  /** Return true to lose a message on its way to the channel opened `index`-th (0-based). */
  drop: ((message: unknown, index: number) => boolean) | undefined;

  readonly locks = {
    request: async (name: string, options: { signal?: AbortSignal }, cb: (lock: unknown) => Promise<void>): Promise<unknown> => {
      await this.acquire(name, options.signal);
      try {
        return await cb({ name });
      } finally {
        this.holders.delete(name);
        this.grantNext(name);
      }
    },
  };

  get BroadcastChannel(): new (name: string) => { onmessage: ((ev: { data: unknown }) => void) | null; postMessage(m: unknown): void; close(): void } {
    const world = this;
    return class {
      onmessage: ((ev: { data: unknown }) => void) | null = null;
      private readonly entry: { name: string; closed: boolean; index: number; deliver: (data: unknown) => void };
      constructor(readonly name: string) {
        this.entry = { name, closed: false, index: world.opened++, deliver: (data) => this.onmessage?.({ data }) };
        world.channels.add(this.entry);
      }
      postMessage(m: unknown): void {
        if (this.entry.closed) throw new Error('InvalidStateError: channel closed');
        world.posted.push(m);
        const copy = structuredClone(m);
        for (const c of world.channels) {
          if (c === this.entry || c.name !== this.name || world.drop?.(m, c.index)) continue;
          setTimeout(() => !c.closed && c.deliver(structuredClone(copy)), 0);
        }
      }
      close(): void {
        this.entry.closed = true;
        world.channels.delete(this.entry);
      }
    };
  }

  private acquire(name: string, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new DOMException('aborted', 'AbortError'));
    if (!this.holders.get(name)) {
      this.holders.set(name, true);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const q = this.waiting.get(name) ?? [];
      const w = { grant: resolve, signal };
      q.push(w);
      this.waiting.set(name, q);
      signal?.addEventListener('abort', () => {
        const i = q.indexOf(w);
        if (i >= 0) q.splice(i, 1);
        reject(new DOMException('aborted', 'AbortError'));
      });
    });
  }

  private grantNext(name: string): void {
    const q = this.waiting.get(name) ?? [];
    const next = q.shift();
    if (!next) return;
    this.holders.set(name, true);
    next.grant();
  }
}

const opened: CanvasTransport[] = [];

/** A transport on `canvas:demo` against a fake server's `fetch`, with fast deterministic backoff and no
 * presence; `opts` override any of it. Closed by `closeTransports` (each suite's `afterEach`). */
/** An identity JWT's shape with these claims (unsigned: only the server verifies tokens). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}.c2ln`;
}

export function testTransport(fetch: FetchLike, opts: Partial<CanvasTransportOptions> = {}): CanvasTransport {
  const t = new CanvasTransport({
    baseUrl: 'http://api.test',
    streamId: 'canvas:demo',
    getToken: async () => 'jwt',
    fetch,
    presence: false,
    backoff: { baseMs: 1, capMs: 5, random: () => 0 },
    ...opts,
  });
  opened.push(t);
  return t;
}

export function closeTransports(): void {
  for (const t of opened.splice(0)) t.close();
}
