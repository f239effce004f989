/**
 * Two people on one canvas, each in their own browser context, against a real `atoms serve --demo`:
 * shapes, cursors, chat with the demo agent, images by ref, and a server restart mid-session.
 */
import { addShape, agentReply, dragBy, expectReply, seqOf, shape, shapeIds, stateOf } from './helpers.js';
import { expect, test } from './fixtures.js';
import { png } from './png.js';

/** "Within a second" of the action in the other page. */
const LIVE = { timeout: 1000 };

test('a shape created, dragged, resized and deleted in one page shows in the other within a second', async ({ open }) => {
  const ada = await open('Ada');
  const grace = await open('Grace');

  const id = await addShape(ada, 'rect');
  await expect(shape(grace, id)).toBeVisible(LIVE);
  const start = (await stateOf(grace)).shapes?.[id];
  if (!start) throw new Error('no shape in state');

  // Mid-drag, Grace sees the move live (WS gesture) while the durable state is unchanged ...
  await dragBy(ada, shape(ada, id), 150, 80, false);
  const target = { x: start.x + 150, y: start.y + 80 };
  await expect(shape(grace, id)).toHaveAttribute('data-x', String(target.x), LIVE);
  expect((await stateOf(grace)).shapes?.[id]).toMatchObject({ x: start.x, y: start.y });
  // ... and on release it is committed: Grace's state has it within a second.
  await ada.mouse.up();
  await expect.poll(async () => (await stateOf(grace)).shapes?.[id], LIVE).toMatchObject(target);
  await expect(shape(grace, id)).toHaveAttribute('data-y', String(target.y), LIVE);

  await dragBy(ada, ada.locator('.handle-se'), 40, 30);
  await expect.poll(async () => (await stateOf(grace)).shapes?.[id], LIVE).toMatchObject({ ...target, w: start.w + 40, h: start.h + 30 });

  await ada.keyboard.press('Delete');
  await expect(shape(grace, id)).toHaveCount(0, LIVE);
  expect((await stateOf(grace)).shapes).toEqual({});
});

test("the other person's cursor and name are visible", async ({ open }) => {
  const ada = await open('Ada');
  const grace = await open('Grace');
  await expect(grace.getByTestId('people')).toContainText('Ada');
  await expect(ada.getByTestId('people')).toContainText('Grace');

  const board = await ada.getByTestId('board').boundingBox();
  if (!board) throw new Error('no board');
  await ada.mouse.move(board.x + 200, board.y + 150);
  await ada.mouse.move(board.x + 320, board.y + 210, { steps: 5 });
  const cursor = grace.locator('.cursor', { hasText: 'Ada' });
  await expect(cursor).toBeVisible(LIVE);
  await expect(cursor).toHaveAttribute('data-x', '320', LIVE);
  await expect(cursor).toHaveAttribute('data-y', '210');
  // Grace's own cursor is not drawn in her page.
  await expect(grace.locator('.cursor', { hasText: 'Grace' })).toHaveCount(0);
});

test("a chat message and the agent's streamed reply appear in both pages", async ({ open }) => {
  const ada = await open('Ada');
  const grace = await open('Grace');
  const message = 'What colour should the header be?';
  const reply = agentReply(message);

  // Record every text the reply shows in Grace's page: it must grow token by token.
  await grace.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { replyTexts: string[] }).replyTexts = seen;
    new MutationObserver(() => {
      const text = document.querySelector('.chat-log li[data-role="assistant"] .text')?.textContent ?? '';
      if (text && seen[seen.length - 1] !== text) seen.push(text);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });

  await ada.getByTestId('chat-input').fill(message);
  await ada.getByTestId('chat-input').press('Enter');
  for (const page of [ada, grace]) {
    await expect(page.locator('.chat-log li[data-role="user"]', { hasText: message })).toContainText('Ada', LIVE);
  }
  await expectReply(ada, reply);
  await expectReply(grace, reply);

  const texts = await grace.evaluate(() => (window as unknown as { replyTexts: string[] }).replyTexts);
  expect(texts.length).toBeGreaterThanOrEqual(3);
  texts.forEach((t, i) => i > 0 && expect(t.startsWith(texts[i - 1] ?? '')).toBe(true));
  expect(texts[texts.length - 1]).toBe(reply);
  expect((await stateOf(grace)).chat?.map((m) => [m.role, m.text])).toEqual([
    ['user', message],
    ['assistant', reply],
  ]);
});

test('an image shape renders from its artifact ref in both pages, and a snapshot keeps it', async ({ open }) => {
  const ada = await open('Ada');
  const grace = await open('Grace');
  const bytes = png(64, 40, (x, y) => [x * 4, y * 6, 200]);
  await ada.getByTestId('image-file').setInputFiles({ name: 'gradient.png', mimeType: 'image/png', buffer: bytes });

  for (const page of [ada, grace]) {
    const image = page.locator('g.shape[data-type="image"]');
    await expect(image).toHaveAttribute('data-image', 'loaded');
    await expect(image.locator('image')).toHaveAttribute('href', /\/v1\/artifacts\/[A-Za-z0-9_-]+\/content\?/);
  }
  const state = await stateOf(grace);
  const images = Object.values(state.shapes ?? {}).filter((s) => s.type === 'image');
  expect(images).toHaveLength(1);
  expect(images[0]?.image).toMatchObject({ kind: 'image', mime: 'image/png', ref: { artifact_id: expect.any(String) } });
  // The state carries the ref only, never the bytes.
  expect(JSON.stringify(state)).not.toMatch(/base64|data:/);
  expect(JSON.stringify(state).length).toBeLessThan(bytes.length + 600);

  // The snapshot button stores the state (with the ref) and everyone is told.
  const seq = await seqOf(grace);
  await grace.getByTestId('snapshot').click();
  for (const page of [ada, grace]) await expect(page.getByTestId('snapshot-info')).toHaveText(`snapshot at seq ${seq + 1}`, LIVE);
});

test('after a server restart mid-session both pages resume with nothing lost', async ({ open, server }) => {
  test.setTimeout(60_000);
  const ada = await open('Ada');
  const grace = await open('Grace');
  const rect = await addShape(ada, 'rect');
  const ellipse = await addShape(grace, 'ellipse');
  const before = 'Before the restart';
  await grace.getByTestId('chat-input').fill(before);
  await grace.getByTestId('chat-input').press('Enter');
  await expectReply(ada, agentReply(before));
  await expect.poll(() => seqOf(grace)).toBe(await seqOf(ada));
  const stateBefore = await stateOf(ada);
  const seqBefore = await seqOf(ada);

  await server.kill();
  for (const page of [ada, grace]) await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'offline');
  await server.start();
  for (const page of [ada, grace]) {
    await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'synced', { timeout: 15_000 });
    expect(await stateOf(page)).toEqual(stateBefore);
    expect(await seqOf(page)).toBe(seqBefore);
    expect((await shapeIds(page)).sort()).toEqual([rect, ellipse].sort());
  }

  // New edits flow both ways, presence is back, and the agent answers again.
  const after = await addShape(grace, 'text');
  await expect(shape(ada, after)).toBeVisible(LIVE);
  const from = (await stateOf(ada)).shapes?.[rect];
  await dragBy(ada, shape(ada, rect), 90, 60);
  // Read Ada's state once her own move is applied (new shapes no longer pile up on the rectangle,
  // so the drag really moves it; reading at once raced the commit).
  await expect.poll(async () => (await stateOf(ada)).shapes?.[rect]?.x).toBe((from?.x ?? 0) + 90);
  const moved = (await stateOf(ada)).shapes?.[rect];
  await expect.poll(async () => (await stateOf(grace)).shapes?.[rect], LIVE).toMatchObject({ x: moved?.x, y: moved?.y });
  await expect(grace.getByTestId('people')).toContainText('Ada', { timeout: 15_000 });
  const question = 'Still there after the restart?';
  await ada.getByTestId('chat-input').fill(question);
  await ada.getByTestId('chat-input').press('Enter');
  await expectReply(grace, agentReply(question));
});
