/** Page helpers for the canvas tests: shapes by id, the materialised state, drags, the agent's reply. */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { BrowserContext, Locator, Page } from '@playwright/test';
import { expect } from './fixtures.js';

const PYTHON = resolve(import.meta.dirname, '../../.venv/bin/python');

export interface ShapeState {
  id: string;
  type: string;
  x: number;
  y: number;
  w: number;
  h: number;
  fill: string;
  text?: string;
  image?: { kind: string; ref: { artifact_id?: string }; mime: string };
}

export interface ChatMessage {
  message_id: string;
  role: string;
  text: string;
  author: string;
}

export interface CanvasState {
  shapes?: Record<string, ShapeState>;
  chat?: ChatMessage[];
}

/** The page's materialised state, as its CanvasTransport holds it. */
/** `count` tabs of one browser context on one canvas, as `name`, each synced before it returns. */
export async function openTabs(context: BrowserContext, baseUrl: string, canvasId: string, count: number, name = 'Ada'): Promise<Page[]> {
  const tabs: Page[] = [];
  for (let i = 0; i < count; i++) {
    const tab = await context.newPage();
    await tab.goto(`${baseUrl}/?canvas=${encodeURIComponent(canvasId)}&name=${encodeURIComponent(name)}`);
    tabs.push(tab);
  }
  for (const tab of tabs) await expect(tab.getByTestId('status')).toHaveAttribute('data-status', 'synced');
  return tabs;
}

export function stateOf(page: Page): Promise<CanvasState> {
  return page.evaluate(() => (window as unknown as { atoms: { transport: { getState(): unknown } } }).atoms.transport.getState() as CanvasState);
}

export function seqOf(page: Page): Promise<number> {
  return page.evaluate(() => (window as unknown as { atoms: { transport: { getSeq(): number } } }).atoms.transport.getSeq());
}

export function shape(page: Page, id: string): Locator {
  return page.locator(`g.shape[data-id="${id}"]`);
}

export async function shapeIds(page: Page): Promise<string[]> {
  return page.locator('g.shape').evaluateAll((els) => els.map((el) => (el as SVGGElement).dataset.id ?? ''));
}

/** Clicks a toolbar button and returns the id of the shape that appeared. */
export async function addShape(page: Page, type: 'rect' | 'ellipse' | 'text'): Promise<string> {
  const before = new Set(await shapeIds(page));
  await page.getByTestId(`add-${type}`).click();
  let id = '';
  await expect
    .poll(async () => {
      id = (await shapeIds(page)).find((x) => !before.has(x)) ?? '';
      return id;
    })
    .not.toBe('');
  return id;
}

/** Presses on `locator`'s centre (plus an offset) and moves by (dx, dy) in steps; `release` ends the drag. */
export async function dragBy(page: Page, locator: Locator, dx: number, dy: number, release = true): Promise<void> {
  const box = await locator.boundingBox();
  if (!box) throw new Error('not visible');
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + dx, y + dy, { steps: 8 });
  if (release) await page.mouse.up();
}

/** The demo agent's reply to `message`, from the Python agent itself. */
export function agentReply(message: string): string {
  return execFileSync(PYTHON, ['-c', 'import sys; from atoms_core.client.agent import reply_text; print(reply_text(sys.argv[1]))', message], { encoding: 'utf8' }).trimEnd();
}

/** Resolves once `page` shows an assistant message with exactly `text`, no longer streaming. */
export async function expectReply(page: Page, text: string, timeout = 10_000): Promise<void> {
  const reply = page.locator('.chat-log li[data-role="assistant"]').filter({ has: page.locator('.text', { hasText: text }) });
  await expect(reply).toHaveCount(1, { timeout });
  await expect(reply.locator('.text')).toHaveText(text);
  await expect(reply).not.toHaveClass(/streaming/);
}

/** Drags a shape so that its top-left corner lands at (x, y) on the board. */
export async function dragTo(page: Page, id: string, x: number, y: number): Promise<void> {
  const el = shape(page, id);
  const at = (name: string) => el.getAttribute(name).then(Number);
  await dragBy(page, el, x - (await at('data-x')), y - (await at('data-y')));
  await expect(el).toHaveAttribute('data-x', String(x));
}
