import { afterEach, describe, expect, it } from 'vitest';
import { type CanvasTransportOptions, type PendingChange, type StatusContext } from '../src/index.js';
import { closeTransports, LiveServer, testTransport, tick } from './helpers.js';

afterEach(closeTransports);

async function setup(opts: Partial<CanvasTransportOptions> = {}) {
  const server = new LiveServer();
  server.commitAs('user:setup', [{ op: 'add', path: '/n', value: [] }]);
  let ids = 0;
  const t = testTransport(server.fetch, { shareAcrossTabs: false, generateId: () => `cmd-${++ids}`, ...opts });
  const pending: PendingChange[] = [];
  const statuses: StatusContext[] = [];
  t.on('pending', (p) => pending.push(p));
  t.on('status', (s) => statuses.push(s));
  t.connect();
  await expect.poll(() => t.syncStatus).toBe('synced');
  return { server, t, pending, statuses };
}

const push = (v: number) => ({ ops: [{ op: 'add' as const, path: '/n/-', value: v }] });
const sentIds = (server: LiveServer) =>
  server.commandRequests.flatMap((c) => {
    const b = JSON.parse(c.body!) as { command_id: string } | { command_id: string }[];
    return (Array.isArray(b) ? b : [b]).map((e) => e.command_id);
  });

describe('pending commands (offline)', () => {
  it('keeps commands issued while offline, shows them as pending, and sends them in order with their command_id', async () => {
    const { server, t, pending, statuses } = await setup({ backoff: { baseMs: 20, capMs: 20, random: () => 1 } });
    server.offline = true;
    server.lastStream.error(new TypeError('network down')); // the SSE connection drops too
    const results = [1, 2, 3].map((v) => t.command('state.patch', push(v)));
    await expect.poll(() => t.syncStatus).toBe('offline');
    expect(t.pendingCommands.map((c) => [c.command_id, c.type, c.payload])).toEqual([
      ['cmd-1', 'state.patch', push(1)],
      ['cmd-2', 'state.patch', push(2)],
      ['cmd-3', 'state.patch', push(3)],
    ]);
    expect(t.pendingCommands.every((c) => typeof c.queuedAt === 'number')).toBe(true);
    expect(pending.map((p) => p.count)).toEqual([1, 2, 3]);
    expect(statuses[statuses.length - 1]!.pending).toBe(3);
    await tick(60); // several failed attempts meanwhile: still pending, nothing lost

    server.offline = false;
    await expect.poll(() => t.pendingCommands.length, { timeout: 2000 }).toBe(0);
    expect((await Promise.all(results)).map((r) => r.command_id)).toEqual(['cmd-1', 'cmd-2', 'cmd-3']);
    expect([...new Set(sentIds(server))]).toEqual(['cmd-1', 'cmd-2', 'cmd-3']); // original ids, in order
    expect(server.state).toEqual({ n: [1, 2, 3] });
    await expect.poll(() => t.getState()).toEqual({ n: [1, 2, 3] });
    await expect.poll(() => t.syncStatus).toBe('synced');
    expect(pending[pending.length - 1]).toEqual({ count: 0, commands: [] });
    expect(statuses[statuses.length - 1]!.pending).toBe(0);
  });

  it('the outbox tries again as soon as the stream reconnects, without waiting for its backoff', async () => {
    const { server, t } = await setup({ backoff: { baseMs: 20, capMs: 20, random: () => 1 } });
    server.offline = true;
    server.lastStream.error(new TypeError('network down'));
    const r = t.command('state.patch', push(1));
    await expect.poll(() => t.syncStatus).toBe('offline');
    // from now on the outbox would wait a minute between attempts; the SSE loop keeps its 20 ms
    (t as unknown as { queue: { backoff: { next: () => number } } }).queue.backoff.next = () => 60_000;
    await tick(40);
    server.offline = false;
    await r;
    expect(server.state).toEqual({ n: [1] });
  });

  it('a command whose answer was lost is re-sent with the same command_id and committed once', async () => {
    const { server, t } = await setup();
    const real = server.onCommand;
    let n = 0;
    server.onCommand = async (call, i) => {
      const res = await real(call, i);
      if (++n === 1) throw new TypeError('connection reset'); // committed, but the 202 never arrives
      return res;
    };
    const r = await t.command('state.patch', push(1));
    expect(r.duplicate).toBe(true);
    expect(sentIds(server)).toEqual(['cmd-1', 'cmd-1']);
    expect(server.state).toEqual({ n: [1] });
    expect(server.events).toHaveLength(2);
  });

  it('commands queued behind each other go in one batch; a refused one fails alone, the rest still land in order', async () => {
    const { server, t } = await setup({ backoff: { baseMs: 20, capMs: 20, random: () => 1 } });
    server.reachable = false;
    const ok1 = t.command('state.patch', push(1));
    const bad = t.command('state.patch', { ops: [{ op: 'remove', path: '/missing' }] });
    const ok2 = t.command('state.patch', push(2));
    await expect.poll(() => server.commandRequests.length).toBeGreaterThan(0);
    server.reachable = true;
    await expect(bad).rejects.toMatchObject({ status: 422, code: 'patch_failed' });
    await Promise.all([ok1, ok2]);
    expect(server.state).toEqual({ n: [1, 2] });
    const bodies = server.commandRequests.map((c) => JSON.parse(c.body!) as unknown);
    expect(bodies.some((b) => Array.isArray(b) && b.length === 3)).toBe(true); // coalesced first
    expect(t.pendingCommands).toEqual([]);
  });

  it('an aborted pending command is dropped without being sent', async () => {
    const { server, t } = await setup({ backoff: { baseMs: 20, capMs: 20, random: () => 1 } });
    server.reachable = false;
    const first = t.command('state.patch', push(1));
    const ctrl = new AbortController();
    const second = t.command('state.patch', push(2), { signal: ctrl.signal });
    await expect.poll(() => t.pendingCommands.length).toBe(2);
    ctrl.abort(new Error('user cancelled'));
    await expect(second).rejects.toThrow('user cancelled');
    expect(t.pendingCommands.map((c) => c.command_id)).toEqual(['cmd-1']);
    server.reachable = true;
    await first;
    expect(sentIds(server)).not.toContain('cmd-2');
  });
});

describe('blocked', () => {
  it('says blocked (with a detail) when the connection cannot even open while the network is up', async () => {
    const server = new LiveServer();
    server.extra = (call) => (call.url.includes('/events') ? new Promise<Response>(() => undefined) : undefined);
    let online = true;
    const make = () => {
      const t = testTransport(server.fetch, {
        backoff: undefined, // the default's
        shareAcrossTabs: false,
        openTimeoutMs: 40,
        isOnline: () => online,
      });
      const statuses: StatusContext[] = [];
      t.on('status', (s) => statuses.push(s));
      t.connect();
      return { t, statuses };
    };
    const { t, statuses } = make();
    await expect.poll(() => t.syncStatus).toBe('blocked');
    expect(t.status).toBe('connecting');
    expect(statuses[statuses.length - 1]!.detail).toMatch(/api\.test.*connection pool/);

    online = false;
    const off = make();
    await tick(100);
    expect(off.t.syncStatus).not.toBe('blocked');
  });

  it('is not blocked when the stream opens in time', async () => {
    const server = new LiveServer();
    const t = testTransport(server.fetch, {
      backoff: undefined, // the default's
      shareAcrossTabs: false,
      openTimeoutMs: 40,
      isOnline: () => true,
    });
    t.connect();
    await expect.poll(() => t.syncStatus).toBe('synced');
    await tick(100);
    expect(t.syncStatus).toBe('synced');
  });
});
