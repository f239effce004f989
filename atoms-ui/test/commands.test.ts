import { afterEach, describe, expect, it } from 'vitest';
import { CommandClient, CommandError, TicketClient } from '../src/index.js';
import { closeTransports, FakeServer, json, problem, testTransport } from './helpers.js';

afterEach(closeTransports);

function setup(retries = 4) {
  const server = new FakeServer();
  let n = 0;
  const t = testTransport(server.fetch, {
    backoff: { baseMs: 1, capMs: 4 },
    commandRetries: retries,
    generateId: () => `cmd-${++n}`,
  });
  const bodies = () => server.commandRequests.map((c) => JSON.parse(c.body!) as Record<string, unknown>);
  return { server, t, bodies };
}

describe('commands', () => {
  it('posts a CommandEnvelope with a write-scope ticket as bearer', async () => {
    const { server, t, bodies } = setup();
    const r = await t.command('state.patch', { ops: [{ op: 'add', path: '/a', value: 1 }] }, { baseVersion: 3 });
    expect(r).toEqual({ command_id: 'cmd-1', seq: 1, version: 1, event_ids: ['1'], duplicate: false });
    const call = server.commandRequests[0]!;
    expect(call.url).toBe('http://api.test/v1/streams/canvas:demo/commands');
    expect(call.method).toBe('POST');
    expect(call.headers.authorization).toBe('Bearer t1');
    expect(call.headers['content-type']).toBe('application/json');
    expect(JSON.parse(server.ticketRequests[0]!.body!)).toEqual({ stream_id: 'canvas:demo', scopes: ['write'] });
    expect(server.ticketRequests[0]!.headers.authorization).toBe('Bearer jwt');
    expect(bodies()[0]).toEqual({
      command_id: 'cmd-1',
      type: 'state.patch',
      stream_id: 'canvas:demo',
      payload: { ops: [{ op: 'add', path: '/a', value: 1 }] },
      base_version: 3,
    });
  });

  it('caches the write ticket until ~5 s before it expires', async () => {
    const { server, t } = setup();
    await t.command('chat.post', { role: 'user', text: 'a' });
    await t.command('chat.post', { role: 'user', text: 'b' });
    expect(server.ticketRequests).toHaveLength(1);
    const { server: s2, t: t2 } = setup();
    s2.ticketTtl = 4; // inside the 5 s skew: never reused
    await t2.command('log.append', { level: 'info', message: 'x' });
    await t2.command('log.append', { level: 'info', message: 'y' });
    expect(s2.ticketRequests).toHaveLength(2);
  });

  it('retries network errors and 5xx with the SAME command_id', async () => {
    const { server, t, bodies } = setup();
    server.onCommand = (call, n) => {
      if (n === 1) throw new TypeError('fetch failed');
      if (n === 2) return problem(503, 'store_unavailable', {}, { 'Retry-After': '0' });
      if (n === 3) return problem(500, 'internal_error');
      const b = JSON.parse(call.body!) as { command_id: string };
      return json(202, { command_id: b.command_id, seq: 9, version: 4, event_ids: ['9'], duplicate: true });
    };
    const r = await t.command('token.append', { target: '/t', delta: 'x', index: 0 });
    expect(r.seq).toBe(9);
    expect(r.duplicate).toBe(true);
    expect(bodies().map((b) => b.command_id)).toEqual(['cmd-1', 'cmd-1', 'cmd-1', 'cmd-1']);
  });

  it('surfaces 409 version_conflict as CommandError with currentVersion, without retrying', async () => {
    const { server, t } = setup();
    server.onCommand = () => problem(409, 'version_conflict', { current_version: 7 });
    let err: unknown;
    try {
      await t.command('state.patch', { ops: [{ op: 'add', path: '/a', value: 1 }] }, { baseVersion: 3 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CommandError);
    const ce = err as CommandError;
    expect(ce.status).toBe(409);
    expect(ce.code).toBe('version_conflict');
    expect(ce.currentVersion).toBe(7);
    expect(ce.isConflict).toBe(true);
    expect(ce.commandId).toBe('cmd-1');
    expect(ce.attempts).toBe(1);
    expect(ce.problem?.detail).toBe('version_conflict detail');
    expect(server.commandRequests).toHaveLength(1);
  });

  it('never retries 4xx such as 422 (and carries the pointer)', async () => {
    const { server, t } = setup();
    server.onCommand = () => problem(422, 'sidecar_inline_bytes', { pointer: '/payload/ops/0/value/ref/uri' });
    const err = (await t.command('state.patch', { ops: [{ op: 'add', path: '/img', value: 'x' }] }).catch((e: unknown) => e)) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.status).toBe(422);
    expect(err.code).toBe('sidecar_inline_bytes');
    expect(err.pointer).toBe('/payload/ops/0/value/ref/uri');
    expect(server.commandRequests).toHaveLength(1);
  });

  it('gives up after the bounded number of retries', async () => {
    const { server, t } = setup(2);
    server.onCommand = () => problem(503, 'store_unavailable');
    const err = (await t.command('snapshot.create', {}).catch((e: unknown) => e)) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.status).toBe(503);
    expect(err.attempts).toBe(3);
    expect(server.commandRequests).toHaveLength(3);
    expect(new Set(server.commandRequests.map((c) => (JSON.parse(c.body!) as { command_id: string }).command_id)).size).toBe(1);
  });

  it('CommandClient: network failure after all retries is a CommandError with status 0 / network_error', async () => {
    const server = new FakeServer();
    const fetch = server.fetch;
    const client = new CommandClient({
      baseUrl: 'http://api.test',
      streamId: 'canvas:demo',
      fetch,
      tickets: new TicketClient({ baseUrl: 'http://api.test', getToken: async () => 'jwt', fetch }),
      maxRetries: 1,
      backoff: { baseMs: 1, capMs: 4 },
    });
    server.onCommand = () => {
      throw new TypeError('offline');
    };
    const err = (await client.send('snapshot.create', {}).catch((e: unknown) => e)) as CommandError;
    expect(err.status).toBe(0);
    expect(err.code).toBe('network_error');
    expect(server.commandRequests).toHaveLength(2);
  });

  it('on 401 drops the cached ticket and retries once with a fresh one', async () => {
    const { server, t } = setup();
    server.onCommand = (call, n) =>
      n === 1 ? problem(401, 'ticket_expired') : json(202, { command_id: 'cmd-1', seq: 1, version: 1, event_ids: ['1'], duplicate: false });
    await t.command('snapshot.create', {});
    expect(server.commandRequests.map((c) => c.headers.authorization)).toEqual(['Bearer t1', 'Bearer t2']);
    server.onCommand = () => problem(401, 'ticket_expired');
    const err = (await t.command('snapshot.create', {}).catch((e: unknown) => e)) as CommandError;
    expect(err.status).toBe(401);
  });

  it('sends a batch as an array and returns the batch result', async () => {
    const { server, t, bodies } = setup();
    server.onCommand = (call) => {
      const arr = JSON.parse(call.body!) as { command_id: string }[];
      return json(202, {
        results: arr.map((c, i) => ({ command_id: c.command_id, seq: i + 1, version: 1, event_ids: [String(i + 1)], duplicate: false })),
        seq: arr.length,
        version: 1,
      });
    };
    const r = await t.commandBatch([
      { type: 'chat.post', payload: { role: 'user', text: 'hi' } },
      { type: 'state.patch', payload: { ops: [{ op: 'add', path: '/x', value: 1 }] }, baseVersion: 0, commandId: 'mine' },
    ]);
    expect(r.seq).toBe(2);
    expect(r.results.map((x) => x.command_id)).toEqual(['cmd-1', 'mine']);
    const sent = JSON.parse(server.commandRequests[0]!.body!) as Record<string, unknown>[];
    expect(Array.isArray(sent)).toBe(true);
    expect(sent[1]).toMatchObject({ command_id: 'mine', type: 'state.patch', base_version: 0, stream_id: 'canvas:demo' });
    expect(bodies()).toHaveLength(1);
  });
});
