import type { EventEnvelope, FetchLike, JsonObject, WebSocketLike } from '../src/index.js';

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
