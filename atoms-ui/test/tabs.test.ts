import { afterEach, describe, expect, it } from 'vitest';
import { type TabRole } from '../src/index.js';
import { closeTransports, fakeJwt, LiveServer, TabWorld, testTransport, tick } from './helpers.js';

afterEach(closeTransports);

const ada = { iss: 'https://id.test', sub: 'user:ada', tenant_id: 't1', roles: ['editor'] };

/** A tab of `principal` (its tokens differ per call, as refreshed tokens do, in iat/exp/jti only). */
function tab(server: LiveServer, world: TabWorld, name: string, principal: Record<string, unknown> = ada) {
  let ids = 0;
  let tokens = 0;
  const t = testTransport(server.fetch, {
    getToken: async () => fakeJwt({ ...principal, iat: 1_700_000_000 + ++tokens, exp: 1_800_000_000 + tokens, jti: `${name}-${tokens}` }),
    locks: world.locks,
    BroadcastChannel: world.BroadcastChannel,
    generateId: () => `${name}-${++ids}`,
  });
  const roles: TabRole[] = [];
  t.on('tab_role', ({ role }) => roles.push(role));
  return { t, roles };
}

const openStreams = (server: LiveServer) => server.streams.filter((s) => !s.closed && !s.aborted).length;
const add = (id: string) => ({ ops: [{ op: 'add' as const, path: `/shapes/${id}`, value: { x: 0 } }] });

async function tenTabs() {
  const server = new LiveServer();
  server.commitAs('user:setup', [{ op: 'add', path: '/shapes', value: {} }]);
  const world = new TabWorld();
  const tabs = Array.from({ length: 10 }, (_, i) => tab(server, world, `tab${i}`));
  for (const { t } of tabs) t.connect();
  for (const { t } of tabs) await expect.poll(() => t.syncStatus).toBe('synced');
  return { server, world, tabs };
}

describe('one SSE connection per stream across tabs', () => {
  it('ten tabs share one connection: one leader, nine followers, all with the same state', async () => {
    const { server, tabs } = await tenTabs();
    expect(server.sseRequests).toHaveLength(1);
    expect(tabs.map(({ t }) => t.tabRole)).toEqual(['leader', ...Array(9).fill('follower')]);
    tabs[7]!.t.command('state.patch', add('from7'));
    server.commitAs('user:bob', add('bobs').ops);
    for (const { t } of tabs) await expect.poll(() => t.getState()).toEqual({ shapes: { from7: { x: 0 }, bobs: { x: 0 } } });
    for (const { t } of tabs) expect([t.getSeq(), t.getVersion()]).toEqual([3, 3]);
    expect(server.sseRequests).toHaveLength(1);
    expect(openStreams(server)).toBe(1);
  });

  it('followers send their own commands over HTTP and keep their own undo history', async () => {
    const { server, tabs } = await tenTabs();
    const follower = tabs[3]!.t;
    await follower.command('state.patch', add('mine'));
    await tabs[0]!.t.command('state.patch', add('leaders'));
    expect(server.commandRequests.map((c) => (JSON.parse(c.body!) as { command_id: string }).command_id)).toEqual(['tab3-1', 'tab0-1']);
    expect(tabs[5]!.t.canUndo).toBe(false);
    expect(await follower.undo()).toBe('applied');
    for (const { t } of tabs) await expect.poll(() => t.getState()).toEqual({ shapes: { leaders: { x: 0 } } });
  });

  it('when the leader closes, a follower takes over and resumes with Last-Event-ID from its own seq', async () => {
    const { server, tabs } = await tenTabs();
    await tabs[2]!.t.command('state.patch', add('a'));
    for (const { t } of tabs) await expect.poll(() => t.getSeq()).toBe(2);
    const [leader, next] = [tabs[0]!, tabs[1]!];
    leader.t.close();
    await expect.poll(() => next.t.tabRole).toBe('leader');
    expect(next.roles).toEqual(['follower', 'leader']);
    await expect.poll(() => server.sseRequests.length).toBe(2);
    expect(server.sseRequests[1]!.headers['last-event-id']).toBe('2');
    await expect.poll(() => openStreams(server)).toBe(1);

    server.commitAs('user:bob', add('b').ops); // reaches every remaining tab through the new leader
    for (const { t } of tabs.slice(1)) await expect.poll(() => t.get('/shapes/b')).toEqual({ x: 0 });
    expect(leader.t.get('/shapes/b')).toBeUndefined();
    for (const { t } of tabs.slice(1)) await expect.poll(() => t.syncStatus).toBe('synced');
  });

  it('a tab opened later gets the state from the leader, not from a new connection', async () => {
    const { server, world, tabs } = await tenTabs();
    await tick(5);
    server.commitAs('user:bob', add('before').ops);
    const late = tab(server, world, 'late');
    await expect.poll(() => tabs[0]!.t.get('/shapes/before')).toEqual({ x: 0 });
    late.t.connect();
    await expect.poll(() => late.t.syncStatus).toBe('synced');
    expect(late.t.getState()).toEqual({ shapes: { before: { x: 0 } } });
    expect(late.t.getSeq()).toBe(2);
    expect(server.sseRequests).toHaveLength(1);
  });

  it('followers mirror the leader losing its connection, and recover with it', async () => {
    const { server, tabs } = await tenTabs();
    server.offline = true;
    server.lastStream.error(new TypeError('network down'));
    for (const { t } of tabs) await expect.poll(() => t.syncStatus).toBe('offline');
    server.offline = false;
    for (const { t } of tabs) await expect.poll(() => t.syncStatus).toBe('synced');
    server.commitAs('user:bob', add('after').ops);
    for (const { t } of tabs) await expect.poll(() => t.get('/shapes/after')).toEqual({ x: 0 });
  });

  it('a follower that missed an event (seq gap) gets the state from the leader again', async () => {
    const { server, world, tabs } = await tenTabs();
    const follower = tabs[4]!.t;
    const errors: string[] = [];
    follower.on('error', (e) => errors.push(e.kind));
    let lost = 0;
    world.drop = (m, index) => index === 4 && (m as { t: string }).t === 'sse' && lost++ === 0;
    server.commitAs('user:bob', add('lost').ops); // never reaches tab 4
    server.commitAs('user:bob', add('next').ops); // tab 4 sees seq 3 after 1: a gap
    const want = { shapes: { lost: { x: 0 }, next: { x: 0 } } };
    await expect.poll(() => follower.getState()).toEqual(want);
    expect(follower.getSeq()).toBe(3);
    expect(errors).toEqual(['gap']);
    await expect.poll(() => follower.syncStatus).toBe('synced');
    expect(server.sseRequests).toHaveLength(1);
  });

  it('shareAcrossTabs: false keeps a connection of its own', async () => {
    const server = new LiveServer();
    const world = new TabWorld();
    const shared = tab(server, world, 'a');
    const solo = testTransport(server.fetch, {
      backoff: undefined, // the default's
      shareAcrossTabs: false,
      locks: world.locks,
      BroadcastChannel: world.BroadcastChannel,
    });
    shared.t.connect();
    solo.connect();
    await expect.poll(() => solo.syncStatus).toBe('synced');
    await expect.poll(() => shared.t.syncStatus).toBe('synced');
    expect(solo.tabRole).toBe('solo');
    expect(server.sseRequests).toHaveLength(2);
  });

  it('tabs of different principals (or other grants) on one stream never share: each checks its own access', async () => {
    const server = new LiveServer();
    server.commitAs('user:setup', [{ op: 'add', path: '/shapes', value: {} }]);
    const world = new TabWorld();
    const adas = [tab(server, world, 'ada1'), tab(server, world, 'ada2')];
    const bob = tab(server, world, 'bob', { ...ada, sub: 'user:bob' });
    const narrow = tab(server, world, 'narrow', { ...ada, grants: { 'canvas:other': ['read'] } });
    const all = [...adas, bob, narrow];
    for (const { t } of all) t.connect();
    for (const { t } of all) await expect.poll(() => t.syncStatus).toBe('synced');
    expect(all.map(({ t }) => t.tabRole)).toEqual(['leader', 'follower', 'leader', 'leader']);
    // Bob's tab and the narrow token's asked the server with their own tickets: three connections.
    expect(server.sseRequests).toHaveLength(3);
    server.commitAs('user:carol', add('c').ops);
    for (const { t } of all) await expect.poll(() => t.get('/shapes/c')).toEqual({ x: 0 });

    // Ada's leader closing hands over to Ada's other tab only.
    adas[0]!.t.close();
    await expect.poll(() => adas[1]!.t.tabRole).toBe('leader');
    expect(adas[1]!.roles).toEqual(['follower', 'leader']);
    expect([bob.roles, narrow.roles]).toEqual([['follower', 'leader'], ['follower', 'leader']]); // unchanged
    await expect.poll(() => server.sseRequests.length).toBe(4);
  });

  it('a tab whose token is no JWT keeps a connection of its own', async () => {
    const server = new LiveServer();
    const world = new TabWorld();
    const shared = tab(server, world, 'a');
    const opaque = testTransport(server.fetch, { getToken: async () => 'opaque-token', locks: world.locks, BroadcastChannel: world.BroadcastChannel });
    shared.t.connect();
    opaque.connect();
    await expect.poll(() => opaque.syncStatus).toBe('synced');
    await expect.poll(() => shared.t.syncStatus).toBe('synced');
    expect([shared.t.tabRole, opaque.tabRole]).toEqual(['leader', 'solo']);
    expect(server.sseRequests).toHaveLength(2);
  });

  it('a tab still waiting for its token (no free connection for it) says blocked after the open timeout', async () => {
    const server = new LiveServer();
    const world = new TabWorld();
    let release: (token: string) => void = () => undefined;
    const token = new Promise<string>((r) => (release = r)); // e.g. its fetch waits for a connection
    const t = testTransport(server.fetch, {
      getToken: () => token,
      openTimeoutMs: 50,
      locks: world.locks,
      BroadcastChannel: world.BroadcastChannel,
    });
    t.connect();
    await expect.poll(() => t.syncStatus).toBe('blocked');
    release(fakeJwt(ada));
    await expect.poll(() => t.syncStatus).toBe('synced');
    expect(t.tabRole).toBe('leader');
  });
});
