import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { applyEnvelopes, CanvasTransport, type EventEnvelope, type JsonValue } from '../src/index.js';
import { FakeServer } from './helpers.js';

interface Vector {
  name: string;
  initial: JsonValue;
  events: EventEnvelope[];
  expected: JsonValue;
}

const file = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/test-vectors/patches.json');
const vectors: Vector[] = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Vector[]) : [];

describe.skipIf(vectors.length === 0)('shared patch test vectors (docs/test-vectors/patches.json)', () => {
  it('has vectors', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(8);
  });

  for (const v of vectors) {
    it(`apply: ${v.name}`, () => {
      const inputs = JSON.stringify([v.initial, v.events]);
      expect(applyEnvelopes(v.initial, v.events)).toEqual(v.expected);
      expect(JSON.stringify([v.initial, v.events])).toBe(inputs); // inputs are never mutated
    });

    it(`transport: ${v.name}`, async () => {
      const server = new FakeServer();
      const streamId = v.events[0]?.stream_id ?? 'canvas:vectors';
      const t = new CanvasTransport({ baseUrl: 'http://x', streamId, getToken: async () => 'jwt', fetch: server.fetch, presence: false });
      t.connect();
      await expect.poll(() => server.streams.length).toBe(1);
      const s = server.lastStream;
      s.push('retry: 2000\n\n');
      s.event('hello', { stream_id: streamId, head_seq: v.events.length, version: 0 });
      s.event('state_snapshot', { stream_id: streamId, seq: 0, version: 0, state: v.initial }, 0);
      for (const e of v.events) s.envelope(e);
      const last = v.events[v.events.length - 1]!;
      await expect.poll(() => t.getSeq()).toBe(last.seq);
      expect(t.getState()).toEqual(v.expected);
      expect(t.getVersion()).toBe(last.version);
      expect(t.syncStatus).toBe('synced');
      t.close();
    });
  }
});
