import { afterEach, describe, expect, it } from 'vitest';
import {
  CanvasTransport,
  type CanvasTransportOptions,
  type StatusContext,
  type TransportErrorContext,
  type TransportEventMap,
} from '../src/index.js';
import { enc, envelope, FakeServer, problem, tick } from './helpers.js';

const open: CanvasTransport[] = [];
afterEach(() => {
  for (const t of open.splice(0)) t.close();
});

function setup(opts: Partial<CanvasTransportOptions> = {}) {
  const server = new FakeServer();
  let tokenCalls = 0;
  const t = new CanvasTransport({
    baseUrl: 'http://api.test/',
    streamId: 'canvas:demo',
    getToken: async () => `jwt${++tokenCalls}`,
    fetch: server.fetch,
    presence: false,
    backoff: { baseMs: 1, capMs: 5, random: () => 0 },
    ...opts,
  });
  open.push(t);
  const errors: TransportErrorContext[] = [];
  const statuses: StatusContext[] = [];
  t.on('error', (e) => errors.push(e));
  t.on('status', (s) => statuses.push(s));
  return { server, t, errors, statuses, tokenCalls: () => tokenCalls };
}

async function openWithSnapshot(server: FakeServer, t: CanvasTransport, state: object = {}, seq = 0, version = 0) {
  t.connect();
  await expect.poll(() => server.streams.length).toBe(1);
  const s = server.lastStream;
  s.push('retry: 2000\n\n');
  s.event('hello', { stream_id: 'canvas:demo', head_seq: seq, version });
  s.event('state_snapshot', { stream_id: 'canvas:demo', seq, version, state }, seq);
  await expect.poll(() => t.syncStatus).toBe('synced');
  return s;
}

describe('CanvasTransport SSE', () => {
  it('fetches a read ticket with the identity JWT and opens the stream with it', async () => {
    const { server, t, statuses } = setup();
    expect(t.status).toBe('closed');
    await openWithSnapshot(server, t, { a: 1 }, 4, 2);
    const tk = server.ticketRequests[0]!;
    expect(tk.method).toBe('POST');
    expect(tk.url).toBe('http://api.test/v1/tickets');
    expect(tk.headers.authorization).toBe('Bearer jwt1');
    expect(JSON.parse(tk.body!)).toEqual({ stream_id: 'canvas:demo', scopes: ['read'] });
    const sse = server.sseRequests[0]!;
    expect(sse.url).toBe('http://api.test/v1/streams/canvas:demo/events?ticket=t1');
    expect(sse.headers.accept).toBe('text/event-stream');
    expect(sse.headers['last-event-id']).toBeUndefined();
    expect(t.getState()).toEqual({ a: 1 });
    expect(t.getSeq()).toBe(4);
    expect(t.getVersion()).toBe(2);
    expect(t.status).toBe('open');
    expect(statuses.map((s) => `${s.status}/${s.syncStatus}`)).toEqual(['connecting/syncing', 'open/syncing', 'open/synced']);
  });

  it('is syncing until the head seq announced by hello is reached', async () => {
    const { server, t } = setup();
    t.connect();
    await expect.poll(() => server.streams.length).toBe(1);
    const s = server.lastStream;
    s.event('hello', { stream_id: 'canvas:demo', head_seq: 2, version: 1 });
    s.event('state_snapshot', { stream_id: 'canvas:demo', seq: 1, version: 1, state: { n: 1 } }, 1);
    await expect.poll(() => t.getSeq()).toBe(1);
    expect(t.syncStatus).toBe('syncing');
    s.envelope(envelope(2, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 2 }] }, 2));
    await expect.poll(() => t.syncStatus).toBe('synced');
  });

  it('applies state_patch and token_patch, emits typed hooks, and leaves state alone for log / snapshot_created', async () => {
    const { server, t } = setup();
    const s = await openWithSnapshot(server, t, { chat: [] });
    const seen: { [K in keyof TransportEventMap]?: TransportEventMap[K][] } = {};
    const rec = <K extends keyof TransportEventMap>(k: K) => {
      const arr: TransportEventMap[K][] = [];
      seen[k] = arr as never;
      t.on(k, (c) => arr.push(c));
      return arr;
    };
    const states = rec('state');
    const events = rec('event');
    const tokens = rec('token_patch');
    const logs = rec('log');
    const snaps = rec('snapshot_created');
    const patches = rec('state_patch');
    const subscribed: number[] = [];
    const unsub = t.subscribe((c) => subscribed.push(c.seq));

    s.envelope(envelope(1, 'state_patch', { ops: [{ op: 'add', path: '/chat/0', value: { role: 'assistant', text: '' } }] }, 1));
    s.envelope(envelope(2, 'token_patch', { target: '/chat/0/text', delta: 'Hel', index: 0 }, 1));
    s.envelope(envelope(3, 'token_patch', { target: '/chat/0/text', delta: 'lo', index: 1, final: true }, 1));
    s.envelope(envelope(4, 'log', { level: 'info', message: 'done', fields: { k: 1 } }, 1));
    s.envelope(envelope(5, 'snapshot_created', { ref: { artifact_id: 'snap1' }, seq: 4, version: 1, size: 10, sha256: 'ab' }, 1));
    await expect.poll(() => t.getSeq()).toBe(5);

    expect(t.getState()).toEqual({ chat: [{ role: 'assistant', text: 'Hello' }] });
    expect(t.get('/chat/0/text')).toBe('Hello');
    expect(t.getVersion()).toBe(1);
    expect(states.map((c) => c.cause)).toEqual(['state_patch', 'token_patch', 'token_patch']);
    expect(subscribed).toEqual([1, 2, 3]);
    expect(events.map((c) => c.envelope.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(patches).toHaveLength(1);
    expect(tokens.map((c) => [c.delta, c.index, c.final, c.value])).toEqual([
      ['Hel', 0, false, 'Hel'],
      ['lo', 1, true, 'Hello'],
    ]);
    expect(logs.map((c) => [c.level, c.message])).toEqual([['info', 'done']]);
    expect(snaps.map((c) => c.ref.artifact_id)).toEqual(['snap1']);
    unsub();
    s.envelope(envelope(6, 'state_patch', { ops: [{ op: 'add', path: '/x', value: 1 }] }, 2));
    await expect.poll(() => t.getSeq()).toBe(6);
    expect(subscribed).toEqual([1, 2, 3]);
    expect(t.getVersion()).toBe(2);
  });

  it('ignores duplicates (seq <= last seq)', async () => {
    const { server, t, errors } = setup();
    const s = await openWithSnapshot(server, t, { n: 0 }, 3, 3);
    const seen: number[] = [];
    t.on('event', (c) => seen.push(c.envelope.seq));
    s.envelope(envelope(2, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 99 }] }, 2));
    s.envelope(envelope(3, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 99 }] }, 3));
    s.envelope(envelope(4, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 4 }] }, 4));
    s.envelope(envelope(4, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 99 }] }, 4));
    await expect.poll(() => t.getSeq()).toBe(4);
    await tick(10);
    expect(seen).toEqual([4]);
    expect(t.getState()).toEqual({ n: 4 });
    expect(errors).toEqual([]);
    expect(server.sseRequests).toHaveLength(1);
  });

  it('on a seq gap aborts and reconnects with a fresh ticket and Last-Event-ID = last seq', async () => {
    const { server, t, errors } = setup();
    const s = await openWithSnapshot(server, t, { n: 0 }, 0, 0);
    s.envelope(envelope(1, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 1 }] }, 1));
    s.envelope(envelope(3, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 3 }] }, 3));
    s.envelope(envelope(4, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 4 }] }, 4));
    await expect.poll(() => server.sseRequests.length).toBe(2);
    expect(s.aborted).toBe(true);
    expect(errors.map((e) => e.kind)).toEqual(['gap']);
    expect(errors[0]!.willRetry).toBe(true);
    expect(t.getSeq()).toBe(1);
    expect(t.getState()).toEqual({ n: 1 });
    const again = server.sseRequests[1]!;
    expect(again.headers['last-event-id']).toBe('1');
    expect(again.url).toContain('ticket=t2');
    expect(server.ticketRequests).toHaveLength(2);
    // replay from 2 continues
    const s2 = server.lastStream;
    s2.envelope(envelope(2, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 2 }] }, 2));
    s2.envelope(envelope(3, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 3 }] }, 3));
    await expect.poll(() => t.getSeq()).toBe(3);
    expect(t.getState()).toEqual({ n: 3 });
    expect(t.syncStatus).toBe('synced');
  });

  it('when the server ends the stream at ticket expiry, resumes with a fresh ticket and Last-Event-ID, each event once', async () => {
    const { server, t, errors } = setup();
    const seen: number[] = [];
    t.on('event', (e) => seen.push(e.envelope.seq));
    let s = await openWithSnapshot(server, t, { n: 0 }, 0, 0);
    for (let round = 0; round < 3; round++) {
      const base = round * 2;
      s.envelope(envelope(base + 1, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: base + 1 }] }, base + 1));
      s.envelope(envelope(base + 2, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: base + 2 }] }, base + 2));
      await expect.poll(() => t.getSeq()).toBe(base + 2);
      s.end(); // atoms-core ends the response when the ticket (plus leeway) expires
      await expect.poll(() => server.sseRequests.length).toBe(round + 2);
      const again = server.sseRequests[round + 1]!;
      expect(again.headers['last-event-id']).toBe(String(base + 2));
      expect(again.url).toContain(`ticket=t${round + 2}`);
      s = server.lastStream;
      s.event('hello', { stream_id: 'canvas:demo', head_seq: base + 2, version: base + 2 });
      s.envelope(envelope(base + 2, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: base + 2 }] }, base + 2)); // a repeat is dropped
    }
    expect(server.ticketRequests).toHaveLength(4);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.getState()).toEqual({ n: 6 });
    expect(errors.filter((e) => !e.willRetry)).toEqual([]);
  });

  it('a stream the server ends because its ticket ran out is renewed at once, staying open (no backoff, no offline status)', async () => {
    const { server, t, statuses } = setup({ backoff: { baseMs: 60_000, capMs: 60_000, random: () => 0 } });
    server.ticketTtl = 0.05;
    const s = await openWithSnapshot(server, t, { n: 0 }, 0, 0);
    s.envelope(envelope(1, 'state_patch', { ops: [{ op: 'replace', path: '/n', value: 1 }] }, 1));
    await expect.poll(() => t.getSeq()).toBe(1);
    await new Promise((r) => setTimeout(r, 1100)); // the ticket has run out, the stream lived a while
    const before = statuses.length;
    s.end();
    await expect.poll(() => server.sseRequests.length, { timeout: 1000 }).toBe(2); // not after the 60 s backoff
    expect(server.sseRequests[1]!.headers['last-event-id']).toBe('1');
    expect(statuses.slice(before).filter((x) => x.status !== 'open' || x.syncStatus === 'offline')).toEqual([]);
  });

  it('a stream ended just after it opened backs off even when its ticket ran out (no tight renew loop)', async () => {
    const { server, t, statuses } = setup();
    server.ticketTtl = 0.05; // born past its local expiry (the 5 s skew)
    const s = await openWithSnapshot(server, t, { n: 0 }, 0, 0);
    const before = statuses.length;
    s.end();
    await expect.poll(() => server.sseRequests.length).toBe(2);
    expect(statuses.slice(before).some((x) => x.status === 'connecting' && x.syncStatus === 'offline')).toBe(true);
  });

  it('sends Last-Event-ID 0 when resuming an empty stream whose snapshot it has', async () => {
    const { server, t } = setup();
    const s = await openWithSnapshot(server, t, {}, 0, 0);
    s.end();
    await expect.poll(() => server.sseRequests.length).toBe(2);
    expect(server.sseRequests[1]!.headers['last-event-id']).toBe('0');
  });

  it('reconnects when the server ends the stream, resuming from the last seq', async () => {
    const { server, t, statuses } = setup();
    const s = await openWithSnapshot(server, t, {}, 0, 0);
    s.envelope(envelope(1, 'state_patch', { ops: [{ op: 'add', path: '/a', value: 1 }] }, 1));
    await expect.poll(() => t.getSeq()).toBe(1);
    s.end();
    await expect.poll(() => server.sseRequests.length).toBe(2);
    expect(server.sseRequests[1]!.headers['last-event-id']).toBe('1');
    expect(statuses.some((x) => x.status === 'connecting' && x.syncStatus === 'offline')).toBe(true);
    await expect.poll(() => t.syncStatus).toBe('synced');
  });

  it('heartbeat watchdog: aborts and reconnects when no bytes arrive; pings keep it alive', async () => {
    const { server, t, errors } = setup({ heartbeatTimeoutMs: 200 });
    const s = await openWithSnapshot(server, t, {}, 0, 0);
    s.push(': ping\n\n');
    for (let i = 0; i < 10; i++) {
      await tick(30);
      s.push(': ping\n\n');
    }
    expect(server.sseRequests).toHaveLength(1);
    await expect.poll(() => server.sseRequests.length, { timeout: 2000 }).toBe(2);
    expect(s.aborted).toBe(true);
    expect(errors.map((e) => e.kind)).toEqual(['heartbeat']);
    expect(server.sseRequests[1]!.headers['last-event-id']).toBe('0');
  });

  it('on 401/403 fetches a new ticket and retries, emitting an auth error', async () => {
    const { server, t, errors, tokenCalls } = setup();
    server.sseResponses.push(() => problem(401, 'ticket_expired'));
    server.sseResponses.push(() => problem(403, 'wrong_stream'));
    t.connect();
    await expect.poll(() => server.streams.length).toBe(1);
    expect(errors.map((e) => [e.kind, e.status, e.code, e.willRetry])).toEqual([
      ['auth', 401, 'ticket_expired', true],
      ['auth', 403, 'wrong_stream', true],
    ]);
    expect(server.sseRequests.map((c) => new URL(c.url).searchParams.get('ticket'))).toEqual(['t1', 't2', 't3']);
    expect(tokenCalls()).toBe(3);
  });

  it('reports a failing getToken() as an auth error and retries', async () => {
    const server = new FakeServer();
    let n = 0;
    const t = new CanvasTransport({
      baseUrl: 'http://api.test',
      streamId: 'canvas:demo',
      getToken: async () => {
        if (++n === 1) throw new Error('logged out');
        return 'jwt';
      },
      fetch: server.fetch,
      presence: false,
      backoff: { baseMs: 1, capMs: 2, random: () => 0 },
    });
    open.push(t);
    const errors: TransportErrorContext[] = [];
    t.on('error', (e) => errors.push(e));
    t.connect();
    await expect.poll(() => server.streams.length).toBe(1);
    expect(errors.map((e) => [e.kind, e.code])).toEqual([['auth', 'token_error']]);
  });

  it('retries when the ticket request fails, and on 5xx', async () => {
    const { server, t, errors } = setup();
    server.ticketResponses.push(() => problem(503, 'store_unavailable', {}, { 'Retry-After': '0' }));
    server.sseResponses.push(() => problem(500, 'internal_error'));
    t.connect();
    await expect.poll(() => server.streams.length).toBe(1);
    expect(errors.map((e) => [e.kind, e.status])).toEqual([
      ['http', 503],
      ['http', 500],
    ]);
  });

  it('gives up on a non-retryable 4xx and is closed', async () => {
    const { server, t, errors } = setup();
    server.sseResponses.push(() => problem(400, 'invalid_stream_id'));
    t.connect();
    await expect.poll(() => t.status).toBe('closed');
    await tick(20);
    expect(server.sseRequests).toHaveLength(1);
    expect(errors.map((e) => [e.kind, e.code, e.willRetry])).toEqual([['http', 'invalid_stream_id', false]]);
  });

  it('resync: discards local state on the fresh snapshot that follows', async () => {
    const { server, t } = setup();
    const s = await openWithSnapshot(server, t, { old: true }, 10, 5);
    const resyncs: unknown[] = [];
    t.on('resync', (c) => resyncs.push(c));
    s.event('resync', { stream_id: 'canvas:demo', reason: 'history_gone', head_seq: 50 });
    s.envelope(envelope(11, 'state_patch', { ops: [{ op: 'add', path: '/ignored', value: 1 }] }, 6));
    await expect.poll(() => resyncs.length).toBe(1);
    expect(t.syncStatus).toBe('syncing');
    s.event('state_snapshot', { stream_id: 'canvas:demo', seq: 50, version: 20, state: { fresh: 1 } }, 50);
    await expect.poll(() => t.getSeq()).toBe(50);
    expect(t.getState()).toEqual({ fresh: 1 });
    expect(t.getVersion()).toBe(20);
    expect(t.syncStatus).toBe('synced');
  });

  it('a patch that does not apply reloads from a fresh snapshot (no Last-Event-ID)', async () => {
    const { server, t, errors } = setup();
    const s = await openWithSnapshot(server, t, { a: 1 }, 2, 2);
    s.envelope(envelope(3, 'state_patch', { ops: [{ op: 'remove', path: '/missing' }] }, 3));
    await expect.poll(() => server.sseRequests.length).toBe(2);
    expect(errors.map((e) => e.kind)).toEqual(['patch']);
    expect(server.sseRequests[1]!.headers['last-event-id']).toBeUndefined();
    expect(t.getState()).toEqual({ a: 1 }); // kept visible until the snapshot arrives
    server.lastStream.event('state_snapshot', { stream_id: 'canvas:demo', seq: 3, version: 3, state: { b: 2 } }, 3);
    await expect.poll(() => t.getSeq()).toBe(3);
    expect(t.getState()).toEqual({ b: 2 });
  });

  it('handles frames split at arbitrary byte boundaries (CR/LF, UTF-8)', async () => {
    const { server, t } = setup();
    const s = await openWithSnapshot(server, t, { s: '' }, 0, 0);
    const frame = `id: 1\r\nevent: token_patch\r\ndata: ${JSON.stringify(envelope(1, 'token_patch', { target: '/s', delta: 'ü😀', index: 0 }))}\r\n\r\n`;
    const bytes = enc(frame);
    for (let i = 0; i < bytes.length; i += 3) s.push(bytes.slice(i, i + 3));
    await expect.poll(() => t.getSeq()).toBe(1);
    expect(t.getState()).toEqual({ s: 'ü😀' });
  });

  it('a protocol error (bad JSON) reconnects from the last seq', async () => {
    const { server, t, errors } = setup();
    const s = await openWithSnapshot(server, t, {}, 0, 0);
    s.push('id: 1\nevent: state_patch\ndata: {not json\n\n');
    await expect.poll(() => server.sseRequests.length).toBe(2);
    expect(errors.map((e) => e.kind)).toEqual(['protocol']);
  });

  it('waitForSeq resolves once the event was applied', async () => {
    const { server, t } = setup();
    const s = await openWithSnapshot(server, t, {}, 0, 0);
    let done = false;
    const p = t.waitForSeq(2).then(() => (done = true));
    s.envelope(envelope(1, 'state_patch', { ops: [{ op: 'add', path: '/a', value: 1 }] }, 1));
    await tick(20);
    expect(done).toBe(false);
    s.envelope(envelope(2, 'state_patch', { ops: [{ op: 'add', path: '/b', value: 1 }] }, 2));
    await p;
    expect(t.getState()).toEqual({ a: 1, b: 1 });
    await expect(t.waitForSeq(1)).resolves.toBeUndefined();
  });

  it('close() aborts the stream and stops reconnecting; connect() starts again', async () => {
    const { server, t, statuses } = setup();
    const s = await openWithSnapshot(server, t, {}, 0, 0);
    t.close();
    expect(t.status).toBe('closed');
    expect(t.syncStatus).toBe('offline');
    await expect.poll(() => s.aborted).toBe(true);
    await tick(30);
    expect(server.sseRequests).toHaveLength(1);
    expect(statuses[statuses.length - 1]).toMatchObject({ status: 'closed', syncStatus: 'offline', previous: 'open' });
    t.connect();
    await expect.poll(() => server.sseRequests.length).toBe(2);
    expect(server.sseRequests[1]!.headers['last-event-id']).toBe('0');
  });

  it("drops the stream at the browser's offline event and reconnects at online without waiting for the backoff", async () => {
    const net = new EventTarget();
    const { server, t, errors } = setup({ networkEvents: net, backoff: { baseMs: 60_000, capMs: 60_000, random: () => 1 } });
    const s = await openWithSnapshot(server, t, { a: 1 }, 3, 3);
    net.dispatchEvent(new Event('offline'));
    await expect.poll(() => t.syncStatus).toBe('offline');
    expect(s.aborted).toBe(true);
    expect(errors.map((e) => [e.kind, e.willRetry])).toEqual([['network', true]]);
    await tick(20);
    expect(server.sseRequests).toHaveLength(1); // waiting out a one-minute backoff
    net.dispatchEvent(new Event('online'));
    await expect.poll(() => server.sseRequests.length).toBe(2);
    expect(server.sseRequests[1]!.headers['last-event-id']).toBe('3');
    t.close();
    net.dispatchEvent(new Event('online')); // listeners are gone after close()
    await tick(20);
    expect(server.sseRequests).toHaveLength(2);
  });

  it('rejects invalid stream ids', () => {
    const server = new FakeServer();
    expect(() => new CanvasTransport({ baseUrl: 'http://x', streamId: 'canvas:../x', getToken: async () => '', fetch: server.fetch })).toThrow(
      TypeError,
    );
    expect(() => new CanvasTransport({ baseUrl: 'http://x', streamId: 'demo', getToken: async () => '', fetch: server.fetch })).toThrow(TypeError);
  });
});
