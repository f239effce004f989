import { describe, expect, it } from 'vitest';
import { applyStatePatch, type JsonValue, type PatchOperation } from '../src/index.js';
import { applyStatePatchWithInverse } from '../src/inverse.js';

const base: JsonValue = { shapes: { a: { x: 1, y: 2 }, b: { x: 5 } }, order: ['a', 'b'], title: 't' };

const cases: [string, PatchOperation[]][] = [
  ['add a member', [{ op: 'add', path: '/shapes/c', value: { x: 9 } }]],
  ['add over a member', [{ op: 'add', path: '/title', value: 'new' }]],
  ['append and insert in an array', [{ op: 'add', path: '/order/-', value: 'c' }, { op: 'add', path: '/order/0', value: 'z' }]],
  ['remove', [{ op: 'remove', path: '/shapes/a' }, { op: 'remove', path: '/order/0' }]],
  ['replace twice in one patch', [{ op: 'replace', path: '/shapes/a/x', value: 2 }, { op: 'replace', path: '/shapes/a/x', value: 3 }]],
  ['move within an array', [{ op: 'move', from: '/order/0', path: '/order/1' }]],
  ['move to the end of an array', [{ op: 'move', from: '/order/0', path: '/order/-' }]],
  ['move over a member', [{ op: 'move', from: '/shapes/b', path: '/shapes/a' }]],
  ['copy', [{ op: 'copy', from: '/shapes/a', path: '/shapes/d' }]],
  ['test then replace the root', [{ op: 'test', path: '/title', value: 't' }, { op: 'replace', path: '', value: { fresh: true } }]],
  ['add then remove the same member', [{ op: 'add', path: '/tmp', value: 1 }, { op: 'remove', path: '/tmp' }]],
];

describe('applyStatePatchWithInverse', () => {
  it.each(cases)('%s: produces the same state as applyStatePatch, and its inverse restores the original', (_name, ops) => {
    const { state, inverse } = applyStatePatchWithInverse(base, ops);
    expect(state).toEqual(applyStatePatch(base, ops));
    expect(applyStatePatch(state, inverse)).toEqual(base);
  });

  it('guards the inverse with tests of the produced values, so it fails once they were changed', () => {
    const { state, inverse } = applyStatePatchWithInverse(base, [{ op: 'replace', path: '/shapes/a/x', value: 7 }]);
    expect(inverse[0]).toEqual({ op: 'test', path: '/shapes/a/x', value: 7 });
    const editedByOthers = applyStatePatch(state, [{ op: 'replace', path: '/shapes/a/x', value: 8 }]);
    expect(() => applyStatePatch(editedByOthers, inverse)).toThrow();
    const deletedByOthers = applyStatePatch(state, [{ op: 'remove', path: '/shapes/a' }]);
    expect(() => applyStatePatch(deletedByOthers, inverse)).toThrow();
    const otherShapeEdited = applyStatePatch(state, [{ op: 'replace', path: '/shapes/b/x', value: 0 }]);
    expect(applyStatePatch(otherShapeEdited, inverse)).toEqual({ ...base, shapes: { a: { x: 1, y: 2 }, b: { x: 0 } } });
  });

  it('tests only the outermost written path and never mutates its input', () => {
    const frozen = JSON.parse(JSON.stringify(base)) as JsonValue;
    const { inverse } = applyStatePatchWithInverse(base, [
      { op: 'add', path: '/shapes/c', value: { x: 1 } },
      { op: 'replace', path: '/shapes/c/x', value: 2 },
    ]);
    expect(inverse.filter((o) => o.op === 'test')).toEqual([{ op: 'test', path: '/shapes/c', value: { x: 2 } }]);
    expect(base).toEqual(frozen);
  });

  it('fails atomically like applyStatePatch', () => {
    expect(() => applyStatePatchWithInverse(base, [{ op: 'add', path: '/n', value: 1 }, { op: 'remove', path: '/missing' }])).toThrow(
      /does not apply/,
    );
    expect(base).not.toHaveProperty('n');
  });
});
