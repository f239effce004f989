/**
 * Tabs and the browser's connection pool, as a person meets them: closing the tab that holds a
 * canvas's shared SSE connection hands it to exactly one other tab with no gap, tabs of two people
 * in one browser do not share, and a canvas the browser has no free connection for says "Blocked"
 * (not "Syncing…" for good) until a tab closes.
 */
import type { BrowserContext, Page } from '@playwright/test';
import { expect, test } from './fixtures.js';
import { addShape, openTabs, seqOf, shape, stateOf } from './helpers.js';

const LIVE = { timeout: 2000 };

type TabRole = 'leader' | 'follower' | 'solo';
const roleOf = (page: Page): Promise<TabRole> =>
  page.evaluate(() => (window as unknown as { atoms: { transport: { tabRole: TabRole } } }).atoms.transport.tabRole);

async function sseOpen(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^atoms_sse_connections (\S+)$/m.exec(text)?.[1] ?? NaN);
}

test('closing the leader tab hands its connection to exactly one other tab, with no gap', async ({ canvasBrowser, server, canvasId, open }) => {
  if (!canvasBrowser) return test.skip(true, 'no Chromium');
  const context: BrowserContext = await canvasBrowser.newContext();
  const eventStreams: string[] = [];
  context.on('request', (r) => {
    if (/\/v1\/streams\/[^/]+\/events/.test(r.url())) eventStreams.push(r.url());
  });
  try {
    const tabs = await openTabs(context, server.url, canvasId, 5);
    const before = await addShape(tabs[4]!, 'rect');
    for (const tab of tabs) await expect(shape(tab, before)).toBeVisible(LIVE);
    const roles = await Promise.all(tabs.map(roleOf));
    expect(roles.filter((r) => r === 'leader')).toHaveLength(1);
    const leader = tabs[roles.indexOf('leader')]!;
    const rest = tabs.filter((t) => t !== leader);
    const conns = await sseOpen(server.url); // the leader's and the demo agent's (and other tests' agents)
    expect(eventStreams).toHaveLength(1);

    // Close the leader's tab for real: the browser drops its lock, its connection and its page.
    await leader.close();
    const during = await addShape(rest[0]!, 'ellipse'); // drawn while the connection changes hands
    await expect.poll(async () => (await Promise.all(rest.map(roleOf))).filter((r) => r === 'leader').length, { timeout: 3000 }).toBe(1);
    expect((await Promise.all(rest.map(roleOf))).filter((r) => r === 'follower')).toHaveLength(rest.length - 1);
    for (const tab of rest) await expect(tab.getByTestId('status')).toHaveAttribute('data-status', 'synced', { timeout: 3000 });

    // Still one connection for the remaining tabs: the old one ended on the server, one new one opened.
    expect(eventStreams).toHaveLength(2);
    await expect.poll(() => sseOpen(server.url), { timeout: 3000 }).toBe(conns);

    // What was drawn during the hand-over and what is drawn after it reach every remaining tab.
    const after = await addShape(rest[rest.length - 1]!, 'text');
    for (const tab of rest) for (const id of [before, during, after]) await expect(shape(tab, id)).toBeVisible(LIVE);
    // No gap: every tab holds exactly what a fresh page of the canvas loads, at the same seq.
    const fresh = await open('Grace');
    const seq = await seqOf(fresh);
    for (const tab of rest) await expect.poll(() => seqOf(tab), LIVE).toBe(seq);
    const expected = await stateOf(fresh);
    for (const tab of rest) expect(await stateOf(tab)).toEqual(expected);
  } finally {
    await context.close();
  }
});

test('two people signed in in one browser do not share a connection: each tab reads with its own ticket', async ({ canvasBrowser, server, canvasId }) => {
  if (!canvasBrowser) return test.skip(true, 'no Chromium');
  const context: BrowserContext = await canvasBrowser.newContext();
  let eventStreams = 0;
  context.on('request', (r) => {
    if (/\/v1\/streams\/[^/]+\/events/.test(r.url())) eventStreams++;
  });
  try {
    const tabs: Page[] = [];
    for (const name of ['Ada', 'Ada', 'Grace']) {
      const tab = await context.newPage();
      await tab.goto(`${server.url}/?canvas=${encodeURIComponent(canvasId)}&name=${name}`);
      await expect(tab.getByTestId('status')).toHaveAttribute('data-status', 'synced');
      tabs.push(tab);
    }
    // Ada's two tabs share one connection; Grace's tab opens its own.
    expect((await Promise.all(tabs.map(roleOf))).sort()).toEqual(['follower', 'leader', 'leader']);
    expect(eventStreams).toBe(2);
    const id = await addShape(tabs[2]!, 'rect');
    for (const tab of tabs) await expect(shape(tab, id)).toBeVisible(LIVE);
  } finally {
    await context.close();
  }
});

/** Adds one rectangle to a fresh canvas from outside the browser (so it needs none of its connections). */
async function drawFromOutside(url: string, canvas: string, id: string): Promise<void> {
  const { token } = (await (await fetch(`${url}/demo/token?name=Bob&canvas=${encodeURIComponent(canvas)}`)).json()) as { token: string };
  const rect = { id, type: 'rect', x: 60, y: 60, w: 120, h: 80, fill: '#ffd8a8' };
  const res = await fetch(`${url}/v1/streams/${encodeURIComponent(`canvas:${canvas}`)}/commands`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ command_id: `outside-${id}`, type: 'state.patch', stream_id: `canvas:${canvas}`, payload: { ops: [{ op: 'add', path: '/shapes', value: { [id]: rect } }] } }),
  });
  expect(res.status).toBe(202);
}

test('the 7th canvas in one browser says Blocked while six others hold every connection, and goes live when one closes', async ({ canvasBrowser, server, canvasId }) => {
  if (!canvasBrowser) return test.skip(true, 'no Chromium');
  test.setTimeout(40_000);
  const context: BrowserContext = await canvasBrowser.newContext();
  // The page itself (HTML, script, style) is handed over by the test runner, so that the 7th tab can
  // load although its browser has no free connection left: what is tested is the canvas's own stream.
  await context.route(new RegExp(`^${server.url}/(\\?|assets/|favicon)`), async (route) => route.fulfill({ response: await route.fetch() }));
  try {
    const tabs: Page[] = [];
    for (let i = 0; i < 7; i++) {
      const tab = await context.newPage();
      await tab.goto(`${server.url}/?canvas=${encodeURIComponent(`${canvasId}-${i}`)}&name=Ada`);
      tabs.push(tab);
    }
    // HTTP/1.1 allows six connections per host: six canvases hold one SSE stream each, the 7th cannot open one.
    for (const tab of tabs.slice(0, 6)) await expect(tab.getByTestId('status')).toHaveAttribute('data-status', 'synced');
    const seventh = tabs[6]!;
    const badge = seventh.getByTestId('status');
    await expect(badge).toHaveAttribute('data-status', 'blocked', { timeout: 15_000 });
    await expect(badge).toContainText('Blocked');
    await expect(badge).toHaveAttribute('title', /connection pool/);

    // Closing one canvas frees a connection: the 7th goes live and shows what others draw.
    await tabs[0]!.close();
    await expect(badge).toHaveAttribute('data-status', 'synced', { timeout: 5000 });
    await drawFromOutside(server.url, `${canvasId}-6`, 'from-bob');
    await expect(shape(seventh, 'from-bob')).toBeVisible(LIVE);
  } finally {
    await context.close();
  }
});
