/**
 * Two people side by side on one canvas, composed into one picture: by default into the test's
 * output dir; `npm run screenshot` writes docs/screenshot.png (CANVAS_SCREENSHOT=<path>).
 */
import { resolve } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures.js';
import { addShape, agentReply, dragTo, expectReply, shape } from './helpers.js';
import { png } from './png.js';

test.use({ canvasId: `studio-${Date.now().toString(36)}` });

async function styled(page: Page, id: string, fill: string, x: number, y: number): Promise<void> {
  await page.getByTestId('fill').fill(fill);
  await expect(shape(page, id).locator('rect, ellipse, text').first()).toHaveAttribute('fill', fill);
  await dragTo(page, id, x, y);
}

async function hover(page: Page, x: number, y: number): Promise<void> {
  const board = await page.getByTestId('board').boundingBox();
  if (!board) throw new Error('no board');
  await page.mouse.move(board.x + x, board.y + y, { steps: 4 });
}

test('two people side by side on one canvas (screenshot)', async ({ open, canvasBrowser }, testInfo) => {
  const ada = await open('Ada');
  const grace = await open('Grace');

  const text = await addShape(ada, 'text');
  await ada.getByTestId('text').fill('Hello, Atoms');
  await ada.getByTestId('text').press('Enter');
  await expect(shape(ada, text)).toContainText('Hello, Atoms');
  await styled(ada, text, '#29335c', 40, 36);
  const rect = await addShape(ada, 'rect');
  await styled(ada, rect, '#2f6fed', 60, 130);
  const ellipse = await addShape(grace, 'ellipse');
  await styled(grace, ellipse, '#e4572e', 240, 210);
  await ada.getByTestId('image-file').setInputFiles({
    name: 'gradient.png',
    mimeType: 'image/png',
    buffer: png(160, 100, (x, y) => [80 + x, 120 + y, 230 - x]),
  });
  const image = grace.locator('g.shape[data-type="image"]');
  await expect(image).toHaveAttribute('data-image', 'loaded');
  await dragTo(grace, (await image.getAttribute('data-id')) ?? '', 150, 360);
  await grace.locator(`g.shape[data-id="${rect}"]`).click();

  const question = 'Can you suggest a layout?';
  await ada.getByTestId('chat-input').fill(question);
  await ada.getByTestId('chat-input').press('Enter');
  const reply = agentReply(question);
  await expectReply(ada, reply);
  await expectReply(grace, reply);

  // Ada has two shapes selected (shift-click); Grace sees them dashed in Ada's colour.
  await shape(ada, text).click();
  await shape(ada, ellipse).click({ modifiers: ['Shift'] });
  await expect(ada.locator('.overlay .selection')).toHaveCount(2);

  // Each sees the other's cursor; Ada sees Grace's selection (dashed, in Grace's colour).
  await hover(ada, 330, 300);
  await expect(grace.locator('.cursor', { hasText: 'Ada' })).toBeVisible();
  await hover(grace, 430, 140);
  await expect(ada.locator('.cursor', { hasText: 'Grace' })).toBeVisible();
  await expect(ada.locator('.peer-selection')).toHaveCount(1);

  const shots = await Promise.all([ada, grace].map(async (p) => (await p.screenshot()).toString('base64')));
  if (!canvasBrowser) throw new Error('no browser');
  const composer = await canvasBrowser.newPage({ viewport: { width: 1960, height: 640 } });
  await composer.setContent(`<body style="margin:0;background:#d9d6cf;display:flex;gap:0 20px;padding:20px;width:max-content;font:600 14px system-ui">
    ${shots.map((b64, i) => `<figure style="margin:0"><figcaption style="padding:0 0 8px">${i === 0 ? 'Ada' : 'Grace'}'s browser</figcaption>
      <img style="display:block;border-radius:6px;box-shadow:0 2px 10px #0003" src="data:image/png;base64,${b64}"></figure>`).join('')}
  </body>`);
  await composer.locator('img').last().evaluate((img: HTMLImageElement) => img.decode());
  const out = process.env.CANVAS_SCREENSHOT ? resolve(process.env.CANVAS_SCREENSHOT) : testInfo.outputPath('side-by-side.png');
  await composer.screenshot({ path: out, fullPage: true });
  await composer.close();
  console.log(`screenshot: ${out}`);
});
