import { afterEach, describe, expect, it } from 'vitest';
import { type HistoryChange, type UndoSkipped } from '../src/index.js';
import { closeTransports, LiveServer, testTransport, tick } from './helpers.js';

afterEach(closeTransports);

async function setup(initial: object = { shapes: {} }) {
  const server = new LiveServer();
  server.commitAs('user:setup', [{ op: 'replace', path: '', value: initial as never }]);
  const t = testTransport(server.fetch, { shareAcrossTabs: false });
  const skipped: UndoSkipped[] = [];
  const history: HistoryChange[] = [];
  t.on('undo_skipped', (e) => skipped.push(e));
  t.on('history', (h) => history.push(h));
  t.connect();
  await expect.poll(() => t.syncStatus).toBe('synced');
  return { server, t, skipped, history };
}

const add = (id: string, x = 0) => ({ ops: [{ op: 'add' as const, path: `/shapes/${id}`, value: { x } }] });
const moveX = (id: string, x: number) => ({ ops: [{ op: 'replace' as const, path: `/shapes/${id}/x`, value: x }] });

describe('undo / redo', () => {
  it("undoes this user's own change only, never another user's", async () => {
    const { server, t, history } = await setup();
    expect(t.canUndo).toBe(false);
    await t.command('state.patch', add('mine'));
    server.commitAs('user:bob', add('bobs').ops);
    await expect.poll(() => t.get('/shapes/bobs')).toEqual({ x: 0 });
    expect(t.canUndo).toBe(true);

    expect(await t.undo()).toBe('applied');
    expect(t.getState()).toEqual({ shapes: { bobs: { x: 0 } } });
    expect(server.state).toEqual({ shapes: { bobs: { x: 0 } } });
    expect(await t.undo()).toBe('empty');
    expect(server.state).toEqual({ shapes: { bobs: { x: 0 } } });
    expect(history).toEqual([
      { canUndo: true, canRedo: false },
      { canUndo: false, canRedo: false },
      { canUndo: false, canRedo: true },
    ]);
  });

  it('sends the undo as an ordinary command whose inverse is guarded by test ops', async () => {
    const { server, t } = await setup({ shapes: { a: { x: 1 } } });
    await t.command('state.patch', moveX('a', 5));
    await t.undo();
    const body = JSON.parse(server.commandRequests[1]!.body!) as { type: string; payload: unknown; command_id: string };
    expect(body.type).toBe('state.patch');
    expect(body.payload).toEqual({
      ops: [
        { op: 'test', path: '/shapes/a/x', value: 5 },
        { op: 'replace', path: '/shapes/a/x', value: 1 },
      ],
    });
    expect(t.get('/shapes/a/x')).toBe(1);
  });

  it('skips an undo that no longer applies (edited or deleted since) with an event, and drops that step', async () => {
    const { server, t, skipped } = await setup({ shapes: { a: { x: 1 }, b: { x: 1 } } });
    await t.command('state.patch', moveX('a', 2)); // step 1
    await t.command('state.patch', moveX('b', 2)); // step 2
    server.commitAs('user:bob', moveX('b', 9).ops); // bob moves b after us
    await expect.poll(() => t.get('/shapes/b/x')).toBe(9);

    expect(await t.undo()).toBe('skipped');
    expect(skipped).toEqual([{ direction: 'undo', reason: 'patch_failed', detail: 'patch_failed detail' }]);
    expect(server.state).toEqual({ shapes: { a: { x: 2 }, b: { x: 9 } } }); // bob's change stands
    expect(t.canRedo).toBe(false);

    expect(await t.undo()).toBe('applied'); // the older step still applies
    expect(server.state).toEqual({ shapes: { a: { x: 1 }, b: { x: 9 } } });

    await t.command('state.patch', add('c'));
    server.commitAs('user:bob', [{ op: 'remove', path: '/shapes/c' }]);
    await expect.poll(() => t.get('/shapes/c')).toBeUndefined();
    expect(await t.undo()).toBe('skipped'); // deleted since: not re-deleted, not resurrected
    expect(server.state).toEqual({ shapes: { a: { x: 1 }, b: { x: 9 } } });
  });

  it('batch(): all state.patch commands sent inside become one undo step', async () => {
    const { server, t } = await setup({ shapes: { a: { x: 0 } } });
    const value = await t.batch(async () => {
      await t.command('state.patch', moveX('a', 1));
      await t.command('state.patch', moveX('a', 2));
      await t.command('state.patch', add('b'));
      return 'done';
    });
    expect(value).toBe('done');
    await t.command('state.patch', moveX('a', 3)); // a separate step after the batch
    expect(await t.undo()).toBe('applied');
    expect(server.state).toEqual({ shapes: { a: { x: 2 }, b: { x: 0 } } });
    expect(await t.undo()).toBe('applied');
    expect(server.state).toEqual({ shapes: { a: { x: 0 } } });
    expect(t.canUndo).toBe(false);
  });

  it('redo re-applies an undone step; a new change clears the redo stack', async () => {
    const { server, t } = await setup({ shapes: { a: { x: 0 } } });
    await t.command('state.patch', moveX('a', 1));
    await t.command('state.patch', add('b', 7));
    await t.undo();
    await t.undo();
    expect(server.state).toEqual({ shapes: { a: { x: 0 } } });
    expect(t.canRedo).toBe(true);
    expect(await t.redo()).toBe('applied');
    expect(server.state).toEqual({ shapes: { a: { x: 1 } } });
    expect(await t.redo()).toBe('applied');
    expect(server.state).toEqual({ shapes: { a: { x: 1 }, b: { x: 7 } } });
    expect(await t.redo()).toBe('empty');
    expect(await t.undo()).toBe('applied'); // a redone step is undoable again
    expect(server.state).toEqual({ shapes: { a: { x: 1 } } });
    await t.command('state.patch', moveX('a', 5));
    expect(t.canRedo).toBe(false);
    expect(await t.redo()).toBe('empty');
  });

  it('a redo that no longer applies is skipped too', async () => {
    const { server, t, skipped } = await setup({ shapes: { a: { x: 0 } } });
    await t.command('state.patch', moveX('a', 1));
    await t.undo();
    server.commitAs('user:bob', moveX('a', 4).ops);
    await expect.poll(() => t.get('/shapes/a/x')).toBe(4);
    expect(await t.redo()).toBe('skipped');
    expect(skipped.map((s) => s.direction)).toEqual(['redo']);
    expect(server.state).toEqual({ shapes: { a: { x: 4 } } });
  });

  it('undo right after a change waits for its event, and several undos run in order', async () => {
    const { server, t } = await setup({ shapes: { a: { x: 0 } } });
    void t.command('state.patch', moveX('a', 1));
    void t.command('state.patch', moveX('a', 2));
    const outcomes = await Promise.all([t.undo(), t.undo(), t.undo()]);
    expect(outcomes).toEqual(['applied', 'applied', 'empty']);
    expect(server.state).toEqual({ shapes: { a: { x: 0 } } });
  });

  it('a refused change is not an undo step', async () => {
    const { t } = await setup({ shapes: {} });
    await expect(t.command('state.patch', { ops: [{ op: 'remove', path: '/shapes/missing' }] })).rejects.toMatchObject({ status: 422 });
    await tick(5);
    expect(t.canUndo).toBe(false);
    expect(await t.undo()).toBe('empty');
  });
});
