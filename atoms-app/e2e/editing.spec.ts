/**
 * Editing the canvas as a person does: new shapes land in view, pan and zoom (wheel, Ctrl+wheel, pinch,
 * space-drag, zoom to fit) so nothing is lost off-screen, multi-select (shift-click, selection
 * box) with move / duplicate / copy-paste / delete, arrow-key nudges, in-place text editing and
 * z order.
 */
import type { Locator, Page } from '@playwright/test';
import { expect, test } from './fixtures.js';
import { addShape, dragBy, seqOf, shape, shapeIds, stateOf } from './helpers.js';

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

async function box(locator: Locator): Promise<Box> {
  const b = await locator.boundingBox();
  if (!b) throw new Error('not visible');
  return b;
}

const inside = (outer: Box, b: Box): boolean => b.x >= outer.x && b.y >= outer.y && b.x + b.width <= outer.x + outer.width && b.y + b.height <= outer.y + outer.height;
const overlap = (a: Box, b: Box): boolean => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** Waits until this page's own edits are applied (its state is at the server head it knows). */
async function settled(page: Page, seq: number): Promise<void> {
  await expect.poll(() => seqOf(page)).toBeGreaterThanOrEqual(seq);
}

test('new shapes land in view on free spots; pan, zoom and zoom to fit keep every shape reachable', async ({ open }) => {
  const ada = await open('Ada');
  const board = await box(ada.getByTestId('board'));
  const ids: string[] = [];
  for (const type of ['rect', 'ellipse', 'rect', 'text'] as const) ids.push(await addShape(ada, type));
  const boxes = await Promise.all(ids.map((id) => box(shape(ada, id))));
  for (const b of boxes) expect(inside(board, b)).toBe(true);
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => expect(overlap(a, b)).toBe(false)));

  // Drag one far off to the right: it leaves the screen ...
  const far = ids[0] ?? '';
  const seq = await seqOf(ada);
  await dragBy(ada, shape(ada, far), 900, 0);
  await settled(ada, seq + 1);
  expect(inside(board, await box(shape(ada, far)))).toBe(false);
  // ... and "zoom to fit" brings every shape back into view, zoomed out.
  await ada.getByTestId('zoom-fit').click();
  for (const id of ids) await expect.poll(async () => inside(board, await box(shape(ada, id)))).toBe(true);
  await expect(ada.getByTestId('zoom-level')).not.toHaveText('100%');
  await ada.getByTestId('zoom-level').click();
  await expect(ada.getByTestId('zoom-level')).toHaveText('100%');

  // The wheel pans (the shapes move on screen, not in the document).
  const before = await box(shape(ada, ids[1] ?? ''));
  await ada.mouse.move(board.x + 40, board.y + 40);
  await ada.mouse.wheel(0, 120);
  await expect.poll(async () => (await box(shape(ada, ids[1] ?? ''))).y).toBeCloseTo(before.y - 120, 0);
  // Ctrl+wheel (a trackpad pinch) zooms around the pointer: the point under it stays put.
  const b1 = await box(shape(ada, ids[1] ?? ''));
  await ada.mouse.move(b1.x, b1.y);
  await ada.keyboard.down('Control');
  await ada.mouse.wheel(0, -200);
  await ada.keyboard.up('Control');
  const b2 = await box(shape(ada, ids[1] ?? ''));
  expect(b2.width).toBeGreaterThan(b1.width * 1.3);
  expect(Math.abs(b2.x - b1.x)).toBeLessThan(2);
  // Space + drag pans, even when the drag starts on a shape (which does not move).
  const state = (await stateOf(ada)).shapes?.[ids[1] ?? ''];
  await ada.keyboard.down(' ');
  await dragBy(ada, shape(ada, ids[1] ?? ''), -60, -30);
  await ada.keyboard.up(' ');
  const b3 = await box(shape(ada, ids[1] ?? ''));
  expect(b3.x).toBeCloseTo(b2.x - 60, 0);
  expect(b3.y).toBeCloseTo(b2.y - 30, 0);
  expect((await stateOf(ada)).shapes?.[ids[1] ?? '']).toEqual(state);
});

test('after panning and zooming, new shapes land in the part of the board on screen, on free spots', async ({ open }) => {
  const ada = await open('Ada');
  const board = await box(ada.getByTestId('board'));
  const before = [await addShape(ada, 'rect'), await addShape(ada, 'ellipse'), await addShape(ada, 'text')];

  // Scroll the board well away from where it started (the first shapes leave the screen), then zoom in.
  await ada.mouse.move(board.x + board.width / 2, board.y + board.height / 2);
  await ada.mouse.wheel(700, 0);
  await ada.mouse.wheel(0, 500);
  await ada.getByTestId('zoom-in').click();
  await expect(ada.getByTestId('zoom-level')).toHaveText('125%');
  for (const id of before) await expect.poll(async () => overlap(board, await box(shape(ada, id)))).toBe(false);

  const added: string[] = [];
  for (const type of ['rect', 'text', 'ellipse', 'rect'] as const) {
    const id = await addShape(ada, type);
    const b = await box(shape(ada, id));
    expect(inside(board, b)).toBe(true);
    for (const other of [...before, ...added]) expect(overlap(b, await box(shape(ada, other)))).toBe(false);
    added.push(id);
  }
});

test('shift-click and a selection box select several shapes, which move, duplicate, copy-paste and delete together', async ({ open }) => {
  const ada = await open('Ada');
  const ids = [await addShape(ada, 'rect'), await addShape(ada, 'ellipse'), await addShape(ada, 'rect')];
  const [a, b, c] = await Promise.all(ids.map((id) => box(shape(ada, id))));
  if (!a || !b || !c) throw new Error('no boxes');
  const board = await box(ada.getByTestId('board'));

  // A selection box from an empty corner over the first two ...
  const x0 = Math.min(a.x, b.x) - 8;
  const y0 = Math.min(a.y, b.y) - 8;
  expect(x0).toBeGreaterThan(board.x);
  await ada.mouse.move(x0, y0);
  await ada.mouse.down();
  await ada.mouse.move(Math.max(a.x + a.width, b.x + b.width) - 4, Math.max(a.y + a.height, b.y + b.height) - 4, { steps: 6 });
  await expect(ada.getByTestId('marquee')).toBeVisible();
  await ada.mouse.up();
  const selected = ada.locator('.overlay .selection');
  const selectedIds = async (): Promise<string[]> => (await selected.evaluateAll((els) => els.map((e) => e.getAttribute('data-id') ?? ''))).sort();
  const boxed = await selectedIds();
  expect(boxed.length).toBeGreaterThanOrEqual(2);
  // ... shift-click adds the rest.
  for (const id of ids.filter((x) => !boxed.includes(x))) await shape(ada, id).click({ modifiers: ['Shift'] });
  expect(await selectedIds()).toEqual([...ids].sort());
  await expect(ada.getByTestId('shape-info')).toHaveText('3 shapes selected');

  // Dragging one moves all three, in one edit.
  const start = (await stateOf(ada)).shapes ?? {};
  const seq = await seqOf(ada);
  await dragBy(ada, shape(ada, ids[0] ?? ''), 40, 25);
  await settled(ada, seq + 1);
  const moved = (await stateOf(ada)).shapes ?? {};
  for (const id of ids) expect(moved[id]).toMatchObject({ x: (start[id]?.x ?? 0) + 40, y: (start[id]?.y ?? 0) + 25 });
  expect(await seqOf(ada)).toBe(seq + 1);

  // Ctrl+D: three copies, offset, selected; Ctrl+C / Ctrl+V: three more.
  await ada.keyboard.press('Control+d');
  await expect(ada.locator('g.shape')).toHaveCount(6);
  let copies: string[] = [];
  await expect
    .poll(async () => {
      copies = (await selectedIds()).filter((id) => !ids.includes(id));
      return copies.length;
    })
    .toBe(3);
  const all = (await stateOf(ada)).shapes ?? {};
  const offsets = copies.map((id) => `${all[id]?.w}x${all[id]?.h}`).sort();
  expect(offsets).toEqual(ids.map((id) => `${moved[id]?.w}x${moved[id]?.h}`).sort());
  await ada.keyboard.press('Control+c');
  await ada.keyboard.press('Control+v');
  await expect(ada.locator('g.shape')).toHaveCount(9);
  await expect.poll(async () => (await selectedIds()).filter((id) => !ids.includes(id) && !copies.includes(id)).length).toBe(3);
  // Delete removes the selection (the pasted three) only.
  await ada.keyboard.press('Delete');
  await expect(ada.locator('g.shape')).toHaveCount(6);
  expect((await shapeIds(ada)).sort()).toEqual([...ids, ...copies].sort());
});

test('arrow keys nudge the selection, a burst of presses being one edit', async ({ open }) => {
  const ada = await open('Ada');
  const id = await addShape(ada, 'rect');
  const start = (await stateOf(ada)).shapes?.[id];
  const seq = await seqOf(ada);
  for (let i = 0; i < 3; i++) await ada.keyboard.press('ArrowRight');
  await ada.keyboard.press('Shift+ArrowDown');
  await ada.keyboard.press('ArrowLeft');
  await expect(shape(ada, id)).toHaveAttribute('data-x', String((start?.x ?? 0) + 2));
  await expect.poll(async () => (await stateOf(ada)).shapes?.[id]).toMatchObject({ x: (start?.x ?? 0) + 2, y: (start?.y ?? 0) + 10 });
  expect(await seqOf(ada)).toBe(seq + 1);
});

test('double-clicking a text shape edits it in place, and typing never creates shapes', async ({ open }) => {
  const ada = await open('Ada');
  const id = await addShape(ada, 'text'); // the Text button was the last thing clicked
  await shape(ada, id).dblclick();
  const editor = ada.getByTestId('text-editor');
  await expect(editor).toBeFocused();
  await ada.keyboard.type('Hello big world ');
  await ada.keyboard.press('Backspace');
  await ada.keyboard.press('Enter');
  await expect(editor).toHaveCount(0);
  await expect(shape(ada, id)).toHaveText('Hello big world');
  await expect.poll(async () => (await stateOf(ada)).shapes?.[id]?.text).toBe('Hello big world');
  // Enter on a selected text opens the editor again; Escape leaves the text as it was.
  await ada.keyboard.press('Enter');
  await ada.keyboard.type('Scratch that');
  await ada.keyboard.press('Escape');
  await expect(editor).toHaveCount(0);
  await ada.keyboard.press(' ');
  await ada.keyboard.press('Enter');
  await ada.keyboard.press('Escape');
  expect(await shapeIds(ada)).toEqual([id]);
  expect((await stateOf(ada)).shapes?.[id]?.text).toBe('Hello big world');
});

test('bring to front and send to back change the z order; their icons are not the duplicate icon', async ({ open }) => {
  const ada = await open('Ada');
  const a = await addShape(ada, 'rect');
  const b = await addShape(ada, 'rect');
  const z = async (id: string): Promise<number> => ((await stateOf(ada)).shapes?.[id] as { z?: number } | undefined)?.z ?? 0;
  expect(await z(b)).toBeGreaterThan(await z(a));
  await shape(ada, a).click();
  await ada.getByTestId('front').click();
  await expect.poll(async () => (await z(a)) > (await z(b))).toBe(true);
  await expect.poll(() => shapeIds(ada)).toEqual([b, a]);
  await ada.getByTestId('back').click();
  await expect.poll(() => shapeIds(ada)).toEqual([a, b]);
  const d = (testid: string) => ada.getByTestId(testid).locator('path').getAttribute('d');
  const [front, back, duplicate] = await Promise.all([d('front'), d('back'), d('duplicate')]);
  expect(new Set([front, back, duplicate]).size).toBe(3);
});

test('a two-finger pinch on a touch screen zooms the board, and the toolbar duplicates a selection', async ({ open }) => {
  const ada = await open('Ada');
  const ids = [await addShape(ada, 'rect'), await addShape(ada, 'ellipse')];
  const b1 = await box(shape(ada, ids[0] ?? ''));
  // Two fingers spread apart around the first shape: the board zooms in, the document does not change.
  const cdp = await ada.context().newCDPSession(ada);
  await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: 2 });
  const cx = b1.x + b1.width / 2;
  const cy = b1.y + b1.height / 2;
  const fingers = (spread: number): { x: number; y: number; id: number }[] => [
    { x: cx - spread, y: cy, id: 1 },
    { x: cx + spread, y: cy, id: 2 },
  ];
  const seq = await seqOf(ada);
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: fingers(20) });
  for (let spread = 25; spread <= 60; spread += 5) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: fingers(spread) });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await expect.poll(async () => (await box(shape(ada, ids[0] ?? ''))).width).toBeGreaterThan(b1.width * 2);
  await expect(ada.getByTestId('zoom-level')).not.toHaveText('100%');
  expect(await seqOf(ada)).toBe(seq);
  await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: false });
  await ada.getByTestId('zoom-level').click();

  // Select both, then the toolbar's Duplicate: two copies, selected in their place.
  await shape(ada, ids[0] ?? '').click();
  await shape(ada, ids[1] ?? '').click({ modifiers: ['Shift'] });
  await expect(ada.getByTestId('shape-info')).toHaveText('2 shapes selected');
  await ada.getByTestId('duplicate').click();
  await expect(ada.locator('g.shape')).toHaveCount(4);
  const copies = (await shapeIds(ada)).filter((id) => !ids.includes(id));
  expect(copies).toHaveLength(2);
  await expect(ada.getByTestId('shape-info')).toHaveText('2 shapes selected');
  const all = (await stateOf(ada)).shapes ?? {};
  expect(copies.map((id) => all[id]?.type).sort()).toEqual(ids.map((id) => all[id]?.type).sort());
});
