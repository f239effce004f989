/**
 * The transport features of issue 16 as a person meets them on the canvas: Ctrl+Z undoes only
 * one's own edits (two people, two browser contexts), ten tabs of one canvas live on one SSE
 * connection, and shapes drawn offline show as pending and are saved when the network is back.
 */
import type { BrowserContext, Page } from '@playwright/test';
import { expect, test } from './fixtures.js';
import { addShape, dragBy, openTabs, seqOf, shape, shapeIds, stateOf } from './helpers.js';

const LIVE = { timeout: 2000 };

test('Ctrl+Z undoes my own edits only, never the other person\'s; Ctrl+Shift+Z redoes', async ({ open }) => {
  const ada = await open('Ada');
  const grace = await open('Grace');
  const mine = await addShape(ada, 'rect');
  const theirs = await addShape(grace, 'ellipse');
  await expect(shape(ada, theirs)).toBeVisible(LIVE);
  const start = (await stateOf(ada)).shapes?.[mine];
  const seq = await seqOf(ada);
  await dragBy(ada, shape(ada, mine), 60, 40);
  await expect.poll(() => seqOf(ada)).toBeGreaterThan(seq);
  const graceMoves = (await stateOf(grace)).shapes?.[theirs];

  // Ada's first Ctrl+Z takes back her move, the second her rectangle: Grace's ellipse stays.
  await ada.keyboard.press('Control+z');
  for (const page of [ada, grace]) await expect.poll(async () => (await stateOf(page)).shapes?.[mine], LIVE).toMatchObject({ x: start?.x, y: start?.y });
  await ada.keyboard.press('Control+z');
  for (const page of [ada, grace]) await expect(shape(page, mine)).toHaveCount(0, LIVE);
  for (const page of [ada, grace]) expect((await stateOf(page)).shapes?.[theirs]).toEqual(graceMoves);
  await expect(ada.getByTestId('redo')).toBeEnabled();

  // Redo brings the rectangle back, then the move.
  await ada.keyboard.press('Control+Shift+z');
  await expect(shape(grace, mine)).toBeVisible(LIVE);
  await ada.getByTestId('redo').click();
  await expect.poll(async () => (await stateOf(grace)).shapes?.[mine], LIVE).toMatchObject({ x: (start?.x ?? 0) + 60, y: (start?.y ?? 0) + 40 });

  // When Grace has moved Ada's rectangle since, Ada's undo would clobber it: it is skipped, and said so.
  await dragBy(grace, shape(grace, mine), -30, 50);
  const graceMove = { x: (start?.x ?? 0) + 30, y: (start?.y ?? 0) + 90 };
  await expect.poll(async () => (await stateOf(ada)).shapes?.[mine], LIVE).toMatchObject(graceMove);
  await ada.keyboard.press('Control+z');
  await expect(ada.getByRole('alert').filter({ hasText: 'Could not undo' })).toBeVisible();
  expect((await stateOf(ada)).shapes?.[mine]).toMatchObject(graceMove);
});

test('ten tabs of one canvas all live on one SSE connection', async ({ canvasBrowser, server, canvasId }) => {
  if (!canvasBrowser) return test.skip(true, 'no Chromium');
  const sseOpen = async (): Promise<number> => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return Number(/^atoms_sse_connections (\S+)$/m.exec(text)?.[1] ?? NaN);
  };
  const before = await sseOpen();
  const context: BrowserContext = await canvasBrowser.newContext();
  let eventStreams = 0;
  context.on('request', (r) => {
    if (/\/v1\/streams\/[^/]+\/events/.test(r.url())) eventStreams++;
  });
  try {
    const tabs = await openTabs(context, server.url, canvasId, 10);
    // Every tab is live: a shape added in the last tab shows in the first, and the other way round.
    const [first, last] = [tabs[0], tabs[9]] as [Page, Page];
    const a = await addShape(last, 'rect');
    for (const tab of tabs) await expect(shape(tab, a)).toBeVisible(LIVE);
    const b = await addShape(first, 'ellipse');
    for (const tab of tabs) await expect(shape(tab, b)).toBeVisible(LIVE);
    const roles = await Promise.all(tabs.map((t) => t.evaluate(() => (window as unknown as { atoms: { transport: { tabRole: string } } }).atoms.transport.tabRole)));
    expect(roles.filter((r) => r === 'leader')).toHaveLength(1);
    expect(roles.filter((r) => r === 'follower')).toHaveLength(9);
    // One event stream for the ten tabs (plus the demo agent's own, opened with the canvas).
    expect(eventStreams).toBe(1);
    expect(await sseOpen()).toBeLessThanOrEqual(before + 2);
  } finally {
    await context.close();
  }
});

test('shapes drawn offline look pending and are saved when the network is back', async ({ open }) => {
  const ada = await open('Ada');
  const grace = await open('Grace');
  const online = await addShape(ada, 'rect');
  await expect(shape(grace, online)).toBeVisible(LIVE);

  await ada.context().setOffline(true);
  const drawn = await addShape(ada, 'ellipse');
  await expect(shape(ada, drawn)).toHaveClass(/pending/);
  await expect(shape(ada, online)).not.toHaveClass(/pending/);
  await expect(ada.getByTestId('status')).toContainText('1 unsaved');
  await dragBy(ada, shape(ada, online), 50, 0);
  await expect(shape(ada, online)).toHaveClass(/pending/);
  await expect(ada.getByTestId('status')).toContainText('2 unsaved');
  await grace.waitForTimeout(300);
  expect(await shapeIds(grace)).toEqual([online]);

  await ada.context().setOffline(false);
  await expect(ada.getByTestId('status')).toHaveAttribute('data-status', 'synced', { timeout: 15_000 });
  await expect(shape(grace, drawn)).toBeVisible(LIVE);
  await expect(shape(ada, drawn)).not.toHaveClass(/pending/);
  await expect(ada.getByTestId('status')).toHaveAttribute('data-pending', '0');
  await expect.poll(async () => (await stateOf(grace)).shapes?.[online]?.x, LIVE).toBe((await stateOf(ada)).shapes?.[online]?.x);
  expect(await stateOf(grace)).toEqual(await stateOf(ada));
});
