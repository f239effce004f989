/**
 * A read-only viewer (issue 15): `?role=viewer` makes the demo mint a `viewer` identity granted this
 * canvas only. The viewer sees edits and cursors live and shows its own cursor, but its editing tools
 * are off, and neither the mouse nor the keyboard can change the canvas.
 */
import { expect, test } from './fixtures.js';
import { addShape, dragBy, seqOf, shape, stateOf } from './helpers.js';

const LIVE = { timeout: 2000 };

test('a viewer sees the canvas live with cursors, its editing tools disabled', async ({ open }) => {
  const ada = await open('Ada');
  const vera = await open('Vera', 'viewer');
  await expect(vera.getByTestId('view-only')).toBeVisible();
  await expect(ada.getByTestId('view-only')).toHaveCount(0);
  for (const tool of ['add-rect', 'add-ellipse', 'add-text', 'add-image', 'delete', 'duplicate', 'front', 'back', 'snapshot', 'undo', 'redo']) {
    await expect(vera.getByTestId(tool)).toBeDisabled();
  }
  await expect(vera.getByTestId('chat-input')).toBeDisabled();
  await expect(ada.getByTestId('add-rect')).toBeEnabled();

  // Ada's edit arrives live on the viewer's page, and each sees the other's cursor.
  const id = await addShape(ada, 'rect');
  await expect(shape(vera, id)).toBeVisible(LIVE);
  const board = await ada.getByTestId('board').boundingBox();
  if (!board) throw new Error('no board');
  await ada.mouse.move(board.x + 300, board.y + 200, { steps: 5 });
  await expect(vera.locator('.cursor', { hasText: 'Ada' })).toHaveAttribute('data-x', '300', LIVE);
  await expect(ada.getByTestId('people')).toContainText('Vera');
  const veraBoard = await vera.getByTestId('board').boundingBox();
  if (!veraBoard) throw new Error('no board');
  await vera.mouse.move(veraBoard.x + 120, veraBoard.y + 90, { steps: 5 });
  await expect(ada.locator('.cursor', { hasText: 'Vera' })).toHaveAttribute('data-x', '120', LIVE);

  // Dragging, deleting and nudging on the viewer's page change nothing, for anyone.
  const before = (await stateOf(ada)).shapes?.[id];
  const seq = await seqOf(ada);
  await dragBy(vera, shape(vera, id), 80, 60);
  await shape(vera, id).click();
  await vera.keyboard.press('Delete');
  await vera.keyboard.press('ArrowRight');
  await expect(vera.getByRole('alert').filter({ hasText: 'read only' })).toBeVisible();
  await ada.waitForTimeout(500);
  expect(await seqOf(ada)).toBe(seq);
  expect((await stateOf(ada)).shapes?.[id]).toEqual(before);
  expect((await stateOf(vera)).shapes?.[id]).toEqual(before);
  await expect(shape(vera, id)).toHaveAttribute('data-x', String(before?.x));

  // The server refuses the viewer's write even when the page is bypassed.
  const refused = await vera.evaluate(async () => {
    const { transport } = (window as unknown as { atoms: { transport: { command(t: string, p: unknown): Promise<unknown> } } }).atoms;
    try {
      await transport.command('chat.post', { role: 'user', text: 'let me in' });
      return 'accepted';
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  });
  expect(refused).toBe('not_granted');
  expect(await seqOf(ada)).toBe(seq);
});
