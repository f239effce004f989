/**
 * The demo agent as a peer, as a person sees it: it is in People with its "agent" badge and status,
 * its reply streams and stops when the person presses Stop (marked interrupted), and it arranges the
 * shapes when asked, selecting each one it moves.
 */
import { agentReply, addShape, dragTo, expectReply, shape } from './helpers.js';
import { expect, test } from './fixtures.js';

test('ask the agent, watch the reply stream, press Stop: interrupted; the agent is in People', async ({ open }) => {
  const ada = await open('Ada');
  const agent = ada.getByTestId('people').locator('li[data-kind="agent"]');
  await expect(agent).toHaveCount(1);
  await expect(agent).toContainText('Agent');
  await expect(agent.getByTestId('agent-badge')).toHaveText('agent');
  await expect(agent).toHaveAttribute('data-status', 'idle');

  const question = 'Tell me a long story about this canvas';
  const full = agentReply(question);
  await ada.getByTestId('chat-input').fill(question);
  await ada.getByTestId('chat-input').press('Enter');
  const reply = ada.locator('.chat-log li[data-role="assistant"]');
  await expect(reply).toHaveClass(/streaming/);
  await expect(agent).toHaveAttribute('data-status', 'writing');
  const text = reply.locator('.text');
  await expect.poll(async () => ((await text.textContent()) ?? '').length).toBeGreaterThan(40);

  await reply.getByTestId('chat-stop').click();
  await expect(reply).toHaveClass(/interrupted/, { timeout: 2_000 });
  await expect(reply).not.toHaveClass(/streaming/);
  await expect(reply.getByTestId('chat-stop')).toBeHidden();
  await expect(agent).toHaveAttribute('data-status', 'idle');
  const stopped = (await text.textContent()) ?? '';
  expect(full.startsWith(stopped)).toBe(true);
  expect(stopped.length).toBeLessThan(full.length / 2);
  await ada.waitForTimeout(500);
  await expect(text).toHaveText(stopped);

  // Someone who opens the canvas later sees the same: the reply stopped short.
  const grace = await open('Grace');
  await expect(grace.locator('.chat-log li[data-role="assistant"]')).toHaveClass(/interrupted/);
  await expect(grace.getByTestId('people').locator('li[data-kind="agent"]')).toHaveCount(1);
});

test('"arrange the shapes": the agent lays them out on a grid, showing which shape it edits', async ({ open }) => {
  const ada = await open('Ada');
  const [a, b, c] = [await addShape(ada, 'rect'), await addShape(ada, 'rect'), await addShape(ada, 'rect')];
  await dragTo(ada, a, 420, 300);
  await dragTo(ada, b, 150, 360);
  await ada.getByTestId('chat-input').fill('Please arrange the shapes');
  await ada.getByTestId('chat-input').press('Enter');
  // While it works, its selection is drawn on the shape it edits, in its colour.
  await expect(ada.locator('.peer-selection')).toHaveCount(1);
  await expectReply(ada, 'Arranged 3 shapes in a grid.', 15_000);
  await expect(ada.locator('.peer-selection')).toHaveCount(0);
  const at = async (id: string) => ({ x: Number(await shape(ada, id).getAttribute('data-x')), y: Number(await shape(ada, id).getAttribute('data-y')) });
  const spots = await Promise.all([a, b, c].map(at));
  expect(new Set(spots.map(({ x, y }) => `${x},${y}`)).size).toBe(3);
  expect(Math.min(...spots.map(({ x }) => x))).toBe(40);
  expect(Math.min(...spots.map(({ y }) => y))).toBe(40);
});
