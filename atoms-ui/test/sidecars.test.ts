import { describe, expect, it } from 'vitest';
import { AtomsHttpError, CanvasTransport, SidecarError, SidecarResolver } from '../src/index.js';
import { FakeServer, json, problem } from './helpers.js';

function setup(now = () => Date.now()) {
  const server = new FakeServer();
  let calls = 0;
  server.extra = (call) => {
    const m = /\/v1\/artifacts\/([^/?]+)$/.exec(new URL(call.url).pathname);
    if (!m) return undefined;
    calls++;
    if (m[1] === 'missing') return problem(404, 'not_found');
    const url = m[1] === 'rel' ? '/v1/artifacts/rel/content' : `https://cdn.test/${m[1]}?sig=${calls}`;
    return json(200, { artifact_id: m[1], mime: 'image/png', size: 3, sha256: 'a'.repeat(64), url, expires_at: new Date(now() + 60_000).toISOString() });
  };
  const r = new SidecarResolver({ baseUrl: 'https://api.test/', getToken: async () => 'jwt', fetch: server.fetch, now });
  return { server, r, calls: () => calls };
}

describe('sidecars', () => {
  it('resolves an artifact_id with the identity JWT and caches until expires_at', async () => {
    let clock = Date.now();
    const { server, r, calls } = setup(() => clock);
    const url = await r.resolve({ artifact_id: 'img1' });
    expect(url).toBe('https://cdn.test/img1?sig=1');
    const call = server.calls[0]!;
    expect(call.url).toBe('https://api.test/v1/artifacts/img1');
    expect(call.headers.authorization).toBe('Bearer jwt');
    expect(await r.resolve({ kind: 'image', mime: 'image/png', ref: { artifact_id: 'img1' } })).toBe(url);
    expect(calls()).toBe(1);
    clock += 56_000; // within 5 s of expiry
    expect(await r.resolve({ artifact_id: 'img1' })).toBe('https://cdn.test/img1?sig=2');
    expect(calls()).toBe(2);
  });

  it('dedupes concurrent lookups and resolves relative URLs against the base', async () => {
    const { r, calls } = setup();
    const [a, b] = await Promise.all([r.resolve({ artifact_id: 'rel' }), r.resolve({ artifact_id: 'rel' })]);
    expect(a).toBe('https://api.test/v1/artifacts/rel/content');
    expect(b).toBe(a);
    expect(calls()).toBe(1);
  });

  it('returns https URIs as is and refuses data:, other schemes and empty refs', async () => {
    const { r, server } = setup();
    expect(await r.resolve({ uri: 'https://img.test/a.png' })).toBe('https://img.test/a.png');
    await expect(r.resolve({ uri: 'data:image/png;base64,AAAA' })).rejects.toMatchObject({ code: 'sidecar_inline_bytes' });
    await expect(r.resolve({ uri: 'http://img.test/a.png' })).rejects.toMatchObject({ code: 'sidecar_bad_uri' });
    await expect(r.resolve({ uri: 'javascript:alert(1)' })).rejects.toBeInstanceOf(SidecarError);
    await expect(r.resolve({ object_id: 'o1' })).rejects.toMatchObject({ code: 'sidecar_unresolvable' });
    await expect(r.resolve({})).rejects.toMatchObject({ code: 'sidecar_missing_ref' });
    expect(server.calls).toHaveLength(0);
  });

  it('surfaces server problems', async () => {
    const { r } = setup();
    const err = await r.resolve({ artifact_id: 'missing' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AtomsHttpError);
    expect((err as AtomsHttpError).status).toBe(404);
  });

  it('is reachable from the transport', async () => {
    const { server } = setup();
    const t = new CanvasTransport({ baseUrl: 'https://api.test', streamId: 'canvas:demo', getToken: async () => 'jwt', fetch: server.fetch, presence: false });
    expect(await t.resolveSidecar({ artifact_id: 'x' })).toMatch(/^https:\/\/cdn\.test\/x/);
  });
});
