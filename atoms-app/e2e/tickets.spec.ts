/**
 * Connections live no longer than their credentials (issue 15, point 5) as two people meet it: on
 * a server whose tickets last 3 seconds (no leeway) every SSE stream ends and every WebSocket is
 * closed (4001) within seconds, and CanvasTransport must fetch fresh tickets on its own, resume
 * the stream from Last-Event-ID and renew its socket before it is cut, so nobody notices.
 */
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures.js';
import { addShape, seqOf, shape, stateOf } from './helpers.js';

test.use({ serverEnv: { ATOMS_TICKET_TTL_S: '3', ATOMS_JWT_LEEWAY_S: '0' } });

const TICKS = 300;
const EVERY_MS = 100; // 300 edits over 30 s: ten lifetimes of a ticket

interface Watch {
  /** The seq of every durable event Ada's transport applied, in order. */
  seqs: number[];
  /** Fresh snapshots (a stream that did not resume but reloaded). */
  snapshots: number;
  /** People list checks (every render of it, and a sample every 200 ms), and those without Grace. */
  checks: number;
  samples: number;
  missing: string[];
  /** Every status Ada's transport left "open" for (a renewal must not look like an outage). */
  outages: string[];
}

/** From now on, Ada's page records every event it applies and whether People shows `name`. */
function watch(page: Page, name: string): Promise<void> {
  return page.evaluate((name) => {
    interface Transport {
      on(event: 'event', l: (e: { envelope: { seq: number } }) => void): void;
      on(event: 'state_snapshot', l: () => void): void;
      on(event: 'status', l: (s: { status: string; syncStatus: string }) => void): void;
    }
    const w = window as unknown as { atoms: { transport: Transport }; watch: Watch };
    const rec: Watch = { seqs: [], snapshots: 0, checks: 0, samples: 0, missing: [], outages: [] };
    w.watch = rec;
    w.atoms.transport.on('event', ({ envelope }) => rec.seqs.push(envelope.seq));
    w.atoms.transport.on('state_snapshot', () => rec.snapshots++);
    w.atoms.transport.on('status', ({ status, syncStatus }) => {
      if (status !== 'open' || syncStatus === 'offline') rec.outages.push(`${status}/${syncStatus} at ${Math.round(performance.now())} ms`);
    });
    const people = document.querySelector('[data-testid="people"]');
    if (!people) throw new Error('no People list');
    const check = (what: string): void => {
      rec.checks++;
      const names = Array.from(people.querySelectorAll('li:not(.me)'), (li) => li.textContent ?? '');
      if (!names.includes(name)) rec.missing.push(`${what} at ${Math.round(performance.now())} ms: ${JSON.stringify(names)}`);
    };
    new MutationObserver(() => check('render')).observe(people, { childList: true, subtree: true, characterData: true });
    setInterval(() => {
      rec.samples++;
      check('sample');
    }, 200);
  }, name);
}

test('with 3-second tickets, 30 s of edits reach the other page each exactly once and nobody drops out of People or sees the canvas go offline', async ({ open }) => {
  test.setTimeout(75_000);
  const ada = await open('Ada');
  const grace = await open('Grace');
  await expect(ada.getByTestId('people')).toContainText('Grace');
  const id = await addShape(grace, 'text');
  await expect(shape(ada, id)).toHaveText('Text');
  await expect.poll(() => seqOf(ada)).toBe(await seqOf(grace));

  const sse: string[] = [];
  const sockets: string[] = [];
  ada.on('request', (r) => /\/v1\/streams\/[^/]+\/events/.test(r.url()) && sse.push(r.url()));
  ada.on('websocket', (ws) => sockets.push(ws.url()));
  const from = await seqOf(ada);
  await watch(ada, 'Grace');

  // Grace appends " 0", " 1", … to the text every 100 ms: a missed chunk or one applied twice
  // would show in the text Ada reads, and in her record of seqs.
  const acked = await grace.evaluate(
    async ({ id, ticks, every }) => {
      interface Transport {
        command(type: 'token.append', payload: { target: string; delta: string; index: number }): Promise<{ seq: number }>;
      }
      const transport = (window as unknown as { atoms: { transport: Transport } }).atoms.transport;
      const seqs: number[] = [];
      const start = performance.now();
      for (let i = 0; i < ticks; i++) {
        const wait = start + i * every - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        seqs.push((await transport.command('token.append', { target: `/shapes/${id}/text`, delta: ` ${i}`, index: i })).seq);
      }
      return seqs;
    },
    { id, ticks: TICKS, every: EVERY_MS },
  );
  const last = acked[acked.length - 1] ?? 0;
  const text = `Text${Array.from({ length: TICKS }, (_, i) => ` ${i}`).join('')}`;
  await expect(shape(ada, id)).toHaveText(text, { timeout: 10_000 });
  await expect.poll(() => seqOf(ada)).toBeGreaterThanOrEqual(last);

  const rec = await ada.evaluate(() => (window as unknown as { watch: Watch }).watch);
  console.log(`3 s tickets: ${rec.seqs.length} events to Ada over ${sse.length} SSE streams and ${sockets.length} sockets; ` +
    `People checked ${rec.checks} times (${rec.samples} samples)`);
  // Every event once, in order, none missing: the streams resumed where they ended, never reloaded.
  expect(rec.seqs).toEqual(Array.from({ length: rec.seqs.length }, (_, i) => from + 1 + i));
  expect(rec.seqs.at(-1)).toBeGreaterThanOrEqual(last);
  expect(rec.snapshots).toBe(0);
  expect(new Set(acked).size).toBe(TICKS);
  for (const seq of acked) expect(rec.seqs).toContain(seq);
  expect(await stateOf(ada)).toEqual(await stateOf(grace));
  // Grace was in Ada's People list at every render and every 200 ms sample throughout.
  expect(rec.missing).toEqual([]);
  // A ticket running out is routine: the stream is renewed at once, never shown as offline.
  expect(rec.outages).toEqual([]);
  expect(rec.samples).toBeGreaterThanOrEqual(140);
  // The tickets really ran out: Ada's stream was ended and her socket replaced again and again.
  expect(sse.length).toBeGreaterThanOrEqual(6);
  expect(sockets.length).toBeGreaterThanOrEqual(8);
});
