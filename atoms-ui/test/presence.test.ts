import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CanvasTransport, type PresenceChange, type PresenceEventMap, type TransportErrorContext } from '../src/index.js';
import { FakeServer, FakeWebSocket, tick } from './helpers.js';

const live: CanvasTransport[] = [];
beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  for (const t of live.splice(0)) t.close();
});

function setup(presence: object = {}) {
  const server = new FakeServer();
  const frames: (() => void)[] = [];
  const t = new CanvasTransport({
    baseUrl: 'https://api.test/base',
    streamId: 'canvas:demo',
    getToken: async () => 'jwt',
    fetch: server.fetch,
    WebSocket: FakeWebSocket,
    backoff: { baseMs: 1, capMs: 4, random: () => 0 },
    presence: { scheduleFrame: (cb: () => void) => frames.push(cb), ...presence },
  });
  live.push(t);
  const changes: PresenceChange[] = [];
  const errors: TransportErrorContext[] = [];
  t.on('presence', (c) => changes.push(c));
  t.on('error', (e) => errors.push(e));
  const runFrames = () => {
    for (const f of frames.splice(0)) f();
  };
  return { server, t, p: t.presence, frames, runFrames, changes, errors };
}

async function connected(s: ReturnType<typeof setup>) {
  s.t.connect();
  await expect.poll(() => FakeWebSocket.instances.length).toBe(1);
  const ws = FakeWebSocket.last;
  ws.open();
  ws.receive({
    type: 'presence.snapshot',
    self: 'me',
    peers: [
      { peer_id: 'me', principal_id: 'user:me', state: {} },
      { peer_id: 'p1', principal_id: 'user:bob', state: { name: 'Bob' } },
    ],
  });
  return ws;
}

describe('presence WebSocket', () => {
  it('connects with a fresh presence ticket to the ws route', async () => {
    const s = setup();
    const ws = await connected(s);
    const presenceTickets = s.server.ticketRequests.filter((c) => (JSON.parse(c.body!) as { scopes: string[] }).scopes[0] === 'presence');
    expect(presenceTickets).toHaveLength(1);
    expect(ws.url).toMatch(/^wss:\/\/api\.test\/base\/v1\/streams\/canvas:demo\/ws\?ticket=t\d$/);
    expect(s.p.status).toBe('open');
    expect(s.p.selfId).toBe('me');
  });

  it('keeps a peers map without self, applying join / update / cursor / leave', async () => {
    const s = setup();
    const ws = await connected(s);
    expect([...s.p.peers.keys()]).toEqual(['p1']);
    expect(s.p.peers.get('p1')).toEqual({ peerId: 'p1', principalId: 'user:bob', state: { name: 'Bob' } });
    const before = s.p.peers;
    ws.receive({ type: 'presence.join', peer: { peer_id: 'p2', principal_id: 'user:eve', state: { name: 'Eve' } } });
    expect(s.p.peers).not.toBe(before); // a new Map per change
    ws.receive({ type: 'presence.update', peer_id: 'p1', state: { name: 'Bobby' } });
    ws.receive({ type: 'cursor', peer_id: 'p2', x: 3, y: 4 });
    ws.receive({ type: 'presence.join', peer: { peer_id: 'me', principal_id: 'user:me', state: {} } });
    ws.receive({ type: 'presence.update', peer_id: 'me', state: { x: 1 } });
    expect(s.p.peers.get('p1')!.state).toEqual({ name: 'Bobby' });
    expect(s.p.peers.get('p2')!.cursor).toEqual({ x: 3, y: 4 });
    expect(s.p.peers.has('me')).toBe(false);
    ws.receive({ type: 'presence.leave', peer_id: 'p1' });
    expect([...s.p.peers.keys()]).toEqual(['p2']);
    const kinds = s.changes.filter((c) => c.type !== 'status').map((c) => (c.type === 'peers' ? `peers:${c.change}` : c.type));
    expect(kinds).toEqual(['peers:snapshot', 'peers:join', 'peers:update', 'cursor', 'peers:leave']);
  });

  it("applies the server's batched cursors frame, one cursor event per peer, self skipped", async () => {
    const s = setup();
    const ws = await connected(s);
    const moved: string[] = [];
    s.p.on('cursor', (c) => moved.push(`${c.peerId}@${c.x},${c.y}`));
    ws.receive({
      type: 'cursors',
      cursors: [
        { peer_id: 'p1', x: 10, y: 20 },
        { peer_id: 'me', x: 1, y: 1 },
        { peer_id: 'p3', x: 5, y: 6 },
      ],
    });
    expect(moved).toEqual(['p1@10,20', 'p3@5,6']);
    expect(s.p.peers.get('p1')).toMatchObject({ principalId: 'user:bob', cursor: { x: 10, y: 20 } });
    expect(s.p.peers.has('me')).toBe(false);
  });

  it('emits gestures and server errors', async () => {
    const s = setup();
    const ws = await connected(s);
    const gestures: PresenceEventMap['gesture'][] = [];
    s.p.on('gesture', (g) => gestures.push(g));
    ws.receive({ type: 'gesture', peer_id: 'p1', kind: 'wave', data: { n: 1 } });
    expect(gestures).toEqual([{ peerId: 'p1', kind: 'wave', data: { n: 1 }, peer: s.p.peers.get('p1') }]);
    ws.receive({ type: 'error', code: 'ws_ephemeral_only', detail: 'chat is not ephemeral' });
    expect(s.errors.map((e) => [e.kind, e.code])).toEqual([['presence', 'ws_ephemeral_only']]);
    ws.receive('not json' as unknown);
  });

  it('sends presence.update, gesture and ping frames', async () => {
    const s = setup();
    const ws = await connected(s);
    s.p.setState({ name: 'Me', color: 'red' });
    expect(s.p.gesture('tap', { x: 1 })).toBe(true);
    expect(ws.messages).toEqual([
      { type: 'presence.update', state: { name: 'Me', color: 'red' } },
      { type: 'gesture', kind: 'tap', data: { x: 1 } },
    ]);
  });

  it('throttles cursor moves to one frame, sending only the latest position', async () => {
    const s = setup();
    const ws = await connected(s);
    s.p.moveCursor(1, 1);
    s.p.moveCursor(2, 2);
    s.p.moveCursor(3, 3);
    expect(s.frames).toHaveLength(1);
    expect(ws.messages).toEqual([]);
    s.runFrames();
    expect(ws.messages).toEqual([{ type: 'cursor', x: 3, y: 3 }]);
    s.runFrames();
    expect(ws.messages).toHaveLength(1);
    s.p.moveCursor(4, 5);
    s.runFrames();
    expect(ws.messages).toEqual([
      { type: 'cursor', x: 3, y: 3 },
      { type: 'cursor', x: 4, y: 5 },
    ]);
  });

  it('falls back to a ~16 ms timer without requestAnimationFrame', async () => {
    const server = new FakeServer();
    const t = new CanvasTransport({
      baseUrl: 'http://api.test',
      streamId: 'canvas:demo',
      getToken: async () => 'jwt',
      fetch: server.fetch,
      WebSocket: FakeWebSocket,
      presence: { cursorIntervalMs: 16 },
    });
    live.push(t);
    t.connect();
    await expect.poll(() => FakeWebSocket.instances.length).toBe(1);
    const ws = FakeWebSocket.last;
    expect(ws.url.startsWith('ws://api.test/v1/streams/canvas:demo/ws?ticket=')).toBe(true);
    ws.open();
    for (let i = 0; i < 10; i++) t.presence.moveCursor(i, i);
    await tick(40);
    expect(ws.messages).toEqual([{ type: 'cursor', x: 9, y: 9 }]);
  });

  it('reconnects with a fresh ticket, re-sends own state and resets peers', async () => {
    const s = setup();
    const ws = await connected(s);
    s.p.setState({ name: 'Me' });
    ws.serverClose(1006);
    expect(s.p.peers.size).toBe(0);
    expect(s.p.status).toBe('connecting');
    await expect.poll(() => FakeWebSocket.instances.length).toBe(2);
    const ws2 = FakeWebSocket.last;
    expect(ws2.url).not.toBe(ws.url); // new ticket
    ws2.open();
    expect(ws2.messages).toEqual([{ type: 'presence.update', state: { name: 'Me' } }]);
    expect(s.p.status).toBe('open');
    expect(s.errors.map((e) => e.code)).toContain('ws_closed');
  });

  it.each([
    [1008, 'too many refused frames'],
    [1009, ''],
  ])('does not reconnect after the fatal close %i', async (code, reason) => {
    const s = setup();
    const ws = await connected(s);
    ws.serverClose(code, reason);
    await tick(20); // several backoff periods (capMs 4)
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(s.p.status).toBe('closed');
    const closed = s.errors.filter((e) => e.code === 'ws_closed');
    expect(closed.map((e) => e.willRetry)).toEqual([false]);
    s.t.connect(); // the app may try again on purpose (transport already connected: no-op)
    s.p.connect();
    await expect.poll(() => FakeWebSocket.instances.length).toBe(2);
  });

  it.each([1001, 1011, 1012, 1013, 1006, 4999])('reconnects after the retryable close %i', async (code) => {
    const s = setup();
    const ws = await connected(s);
    ws.serverClose(code, 'x');
    await expect.poll(() => FakeWebSocket.instances.length).toBe(2);
    expect(s.p.status).toBe('connecting');
    expect(s.errors.filter((e) => e.code === 'ws_closed').map((e) => e.willRetry)).toEqual([true]);
  });

  it('pings every interval and reconnects when no pong arrives in time', async () => {
    const s = setup({ pingIntervalMs: 20, pongTimeoutMs: 30 });
    const ws = await connected(s);
    // answer pings for a while: no reconnect
    for (let i = 0; i < 5; i++) {
      await tick(20);
      if (ws.messages.some((m) => m.type === 'ping')) ws.receive({ type: 'pong', ts: 1, server_ts: 2 });
    }
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(ws.messages.filter((m) => m.type === 'ping').length).toBeGreaterThan(1);
    expect(typeof ws.messages.find((m) => m.type === 'ping')!.ts).toBe('number');
    // stop answering
    await expect.poll(() => FakeWebSocket.instances.length, { timeout: 1000, interval: 10 }).toBe(2);
    expect(ws.closedWith).toEqual({ code: 4000, reason: 'pong timeout' });
    expect(s.errors.map((e) => e.code)).toContain('pong_timeout');
  });

  it('replaces the socket before its ticket expires: the new one opens first, peers never reset', async () => {
    const s = setup();
    s.server.ticketTtl = 0.2; // renewed at half its life, 100 ms
    s.p.setState({ name: 'Me' });
    const first = await connected(s);
    await expect.poll(() => FakeWebSocket.instances.length).toBe(2);
    const next = FakeWebSocket.last;
    expect(first.closedWith).toBeUndefined(); // still serving until the next one is open
    expect([...s.p.peers.keys()]).toEqual(['p1']);
    next.open();
    expect(first.closedWith).toEqual({ code: 1000, reason: 'renewed' });
    expect(next.messages).toContainEqual({ type: 'presence.update', state: { name: 'Me' } });
    next.receive({
      type: 'presence.snapshot',
      self: 'me2',
      peers: [
        { peer_id: 'me', principal_id: 'user:me', state: { name: 'Me' } }, // our old socket, leaving
        { peer_id: 'me2', principal_id: 'user:me', state: { name: 'Me' } },
        { peer_id: 'p1', principal_id: 'user:bob', state: { name: 'Bob' } },
      ],
    });
    expect([...s.p.peers.keys()]).toEqual(['p1']);
    expect(s.p.selfId).toBe('me2');
    first.receive({ type: 'presence.leave', peer_id: 'p1' }); // the old socket is no longer listened to
    expect([...s.p.peers.keys()]).toEqual(['p1']);
    expect(s.p.status).toBe('open');
    const kinds = s.changes.filter((c) => c.type === 'peers').map((c) => (c.type === 'peers' ? c.change : ''));
    expect(kinds).toEqual(['snapshot', 'snapshot']); // no 'reset' in between
    expect(s.changes.filter((c) => c.type === 'status').map((c) => (c.type === 'status' ? c.status : ''))).toEqual(['connecting', 'open']); // once, at the start
  });

  it('drops sends while not connected and stops on close()', async () => {
    const s = setup();
    expect(s.p.gesture('tap')).toBe(false);
    const ws = await connected(s);
    s.t.close();
    expect(s.p.status).toBe('closed');
    expect(ws.closedWith?.code).toBe(1000);
    expect(s.p.gesture('tap')).toBe(false);
    await tick(20);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('reports a missing WebSocket implementation instead of throwing', () => {
    const server = new FakeServer();
    const t = new CanvasTransport({ baseUrl: 'http://x', streamId: 'run:r1', getToken: async () => 'jwt', fetch: server.fetch });
    live.push(t);
    const errors: TransportErrorContext[] = [];
    t.on('error', (e) => errors.push(e));
    const g = globalThis as { WebSocket?: unknown };
    if (g.WebSocket === undefined) {
      t.connect();
      expect(errors.map((e) => [e.kind, e.code, e.willRetry])).toEqual([['presence', 'ws_unavailable', false]]);
    }
  });
});
