/**
 * The chat as a person sees it: a long chat opens scrolled to the newest message, and an agent
 * reply that stopped short (its agent left, or it says so) is marked as interrupted.
 */
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures.js';

type Run = (page: Page, type: string, payload: unknown) => Promise<number>;

/** Sends a command from `page` through its own CanvasTransport (as an agent's client would). */
const command: Run = (page, type, payload) =>
  page.evaluate(
    async ([t, p]) => {
      const transport = (window as unknown as { atoms: { transport: { command(t: string, p: unknown): Promise<{ seq: number }> } } }).atoms.transport;
      return (await transport.command(t as string, p)).seq;
    },
    [type, payload] as const,
  );

/** Posts chat notes from `page` in one batch (as assistant notes, so the demo agent does not answer them). */
const postNotes = (page: Page, from: number, count: number): Promise<unknown> =>
  page.evaluate(
    async ([a, n]) => {
      const transport = (window as unknown as { atoms: { transport: { commandBatch(items: unknown[]): Promise<unknown> } } }).atoms.transport;
      await transport.commandBatch(Array.from({ length: n }, (_, k) => ({ type: 'chat.post', payload: { message_id: `note-${a + k}`, role: 'assistant', text: `Note number ${a + k}` } })));
    },
    [from, count] as const,
  );

test('a long chat opens, reloads and resizes with the newest message in full view, until the person scrolls up', async ({ open }) => {
  const ada = await open('Ada');
  await postNotes(ada, 0, 40);
  await expect(ada.locator('.chat-log li')).toHaveCount(40);
  const grace = await open('Grace');
  const log = grace.getByTestId('chat-log');
  const note = (i: number) => log.locator(`li[data-id="note-${i}"]`);
  const whole = { ratio: 0.95 };
  await expect(log.locator('li')).toHaveCount(40);
  await expect(note(39)).toBeInViewport(whole);
  await expect(note(0)).not.toBeInViewport();

  // On a reload the side panel fills in (people, the agent) after the chat rendered: the log shrinks.
  await grace.reload();
  await expect(log.locator('li')).toHaveCount(40);
  await expect(note(39)).toBeInViewport(whole);
  // A smaller window (a phone turned, dev tools opened) shrinks the log again: still the newest in view.
  await grace.setViewportSize({ width: 1000, height: 420 });
  await expect(note(39)).toBeInViewport(whole);
  await postNotes(ada, 40, 1);
  await expect(note(40)).toBeInViewport(whole);

  // Once the person scrolls up to read, new messages no longer pull the log down.
  await log.hover();
  await grace.mouse.wheel(0, -5000);
  await expect(note(0)).toBeInViewport();
  await postNotes(ada, 41, 1);
  await expect(log.locator('li')).toHaveCount(42);
  await grace.waitForTimeout(300);
  await expect(note(0)).toBeInViewport();
  await expect(note(41)).not.toBeInViewport();
});

test('an agent reply that stopped without its final chunk is marked interrupted', async ({ open }) => {
  const ada = await open('Ada');
  const bot = await open('Bot');
  await expect(ada.getByTestId('people')).toContainText('Bot');
  const reply = (id: string) => ada.locator(`.chat-log li[data-id="${id}"]`);

  // The bot starts streaming a reply, then its page goes away mid-stream (its presence leaves).
  await command(bot, 'chat.post', { message_id: 'r1', role: 'assistant', text: '' });
  await command(bot, 'token.append', { target: '/chat/0/text', delta: 'The layout ', index: 0 });
  await command(bot, 'token.append', { target: '/chat/0/text', delta: 'could be', index: 1 });
  await expect(reply('r1')).toHaveClass(/streaming/);
  await expect(reply('r1')).not.toHaveClass(/interrupted/);
  await bot.context().close();
  await expect(reply('r1')).toHaveClass(/interrupted/);
  await expect(reply('r1')).not.toHaveClass(/streaming/);
  await expect(reply('r1').locator('.text')).toHaveText('The layout could be');

  // An agent that gives up says so (`interrupted: true`): every page shows it, also one opened later.
  const bot2 = await open('Bot2');
  await command(bot2, 'chat.post', { message_id: 'r2', role: 'assistant', text: '' });
  await command(bot2, 'token.append', { target: '/chat/1/text', delta: 'Half a', index: 0 });
  await expect(reply('r2')).toHaveClass(/streaming/);
  await command(bot2, 'state.patch', { ops: [{ op: 'add', path: '/chat/1/interrupted', value: true }] });
  await expect(reply('r2')).toHaveClass(/interrupted/);
  const grace = await open('Grace');
  await expect(grace.locator('.chat-log li[data-id="r2"]')).toHaveClass(/interrupted/);
  // A reply that finished is never marked.
  await command(bot2, 'chat.post', { message_id: 'r3', role: 'assistant', text: '' });
  await command(bot2, 'token.append', { target: '/chat/2/text', delta: 'Done.', index: 0, final: true });
  await expect(reply('r3').locator('.text')).toHaveText('Done.');
  await bot2.context().close();
  await expect(reply('r3')).not.toHaveClass(/interrupted|streaming/);
});
