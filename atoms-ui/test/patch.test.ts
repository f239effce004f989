import { describe, expect, it } from 'vitest';
import {
  applyEnvelope,
  applyStatePatch,
  applyTokenPatch,
  formatPointer,
  getAtPointer,
  PatchApplyError,
  parsePointer,
  type JsonValue,
} from '../src/index.js';
import { envelope } from './helpers.js';

describe('JSON Pointer', () => {
  it('parses and formats with ~0 / ~1 escapes', () => {
    expect(parsePointer('')).toEqual([]);
    expect(parsePointer('/a~1b/c~0d/0')).toEqual(['a/b', 'c~d', '0']);
    expect(formatPointer(['a/b', 'c~d', 0])).toBe('/a~1b/c~0d/0');
    expect(() => parsePointer('a')).toThrow(PatchApplyError);
    expect(() => parsePointer('/a~2')).toThrow(PatchApplyError);
  });

  it('reads values', () => {
    const doc = { a: [{ b: 'x' }], 'k/1': 2 };
    expect(getAtPointer(doc, '/a/0/b')).toBe('x');
    expect(getAtPointer(doc, '/k~11')).toBe(2);
    expect(getAtPointer(doc, '/a/1')).toBeUndefined();
    expect(getAtPointer(doc, '/a/01')).toBeUndefined();
    expect(getAtPointer(doc, '/constructor')).toBeUndefined();
  });
});

describe('applyStatePatch', () => {
  it('applies all RFC 6902 ops without mutating the input', () => {
    const state = { list: [1, 2], obj: { a: 1 } };
    const frozen = JSON.stringify(state);
    const next = applyStatePatch(state, [
      { op: 'add', path: '/list/-', value: 3 },
      { op: 'test', path: '/obj/a', value: 1 },
      { op: 'copy', from: '/obj', path: '/obj2' },
      { op: 'move', from: '/obj/a', path: '/moved' },
      { op: 'replace', path: '/list/0', value: 'one' },
      { op: 'remove', path: '/list/1' },
    ]);
    expect(next).toEqual({ list: ['one', 3], obj: {}, obj2: { a: 1 }, moved: 1 });
    expect(JSON.stringify(state)).toBe(frozen);
  });

  it('is atomic: a failing op leaves the state untouched and names the op', () => {
    const state = { a: 1 };
    let err: unknown;
    try {
      applyStatePatch(state, [
        { op: 'replace', path: '/a', value: 2 },
        { op: 'test', path: '/a', value: 99 },
      ]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PatchApplyError);
    expect((err as PatchApplyError).opIndex).toBe(1);
    expect((err as PatchApplyError).code).toBe('patch_failed');
    expect(state).toEqual({ a: 1 });
  });

  it('refuses paths that do not exist and prototype pollution', () => {
    expect(() => applyStatePatch({}, [{ op: 'replace', path: '/x', value: 1 }])).toThrow(PatchApplyError);
    expect(() => applyStatePatch({}, [{ op: 'remove', path: '/x' }])).toThrow(PatchApplyError);
    expect(() => applyStatePatch({ a: [] }, [{ op: 'add', path: '/a/3', value: 1 }])).toThrow(PatchApplyError);
    expect(() => applyStatePatch({}, [{ op: 'add', path: '/__proto__/polluted', value: 1 }])).toThrow(PatchApplyError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not alias op values into the state (later ops must not mutate the event)', () => {
    const ops = [
      { op: 'add' as const, path: '/chat', value: [] },
      { op: 'add' as const, path: '/chat/0', value: { text: 'hi' } },
    ];
    const next = applyStatePatch({}, ops) as { chat: { text: string }[] };
    expect(ops[0]!.value).toEqual([]);
    expect(next.chat).toEqual([{ text: 'hi' }]);
    next.chat[0]!.text = 'changed';
    expect(ops[1]!.value).toEqual({ text: 'hi' });
  });

  it('replaces the root', () => {
    expect(applyStatePatch({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }])).toEqual({ b: 2 });
  });
});

describe('applyTokenPatch', () => {
  it('appends to a nested string and keeps untouched subtrees by identity', () => {
    const other = { big: [1, 2, 3] };
    const state = { chat: [{ text: 'Hel' }], other };
    const next = applyTokenPatch(state, { target: '/chat/0/text', delta: 'lo', index: 1 }) as typeof state;
    expect(next.chat[0]!.text).toBe('Hello');
    expect(next.other).toBe(other);
    expect(state.chat[0]!.text).toBe('Hel');
  });

  it('creates a missing object member from the delta', () => {
    expect(applyTokenPatch({ msg: {} }, { target: '/msg/text', delta: 'a', index: 0 })).toEqual({ msg: { text: 'a' } });
  });

  it('fails on a non-string target, a missing parent or a bad array index', () => {
    expect(() => applyTokenPatch({ n: 1 }, { target: '/n', delta: 'a', index: 0 })).toThrow(PatchApplyError);
    expect(() => applyTokenPatch({}, { target: '/a/b', delta: 'a', index: 0 })).toThrow(PatchApplyError);
    expect(() => applyTokenPatch({ l: ['x'] }, { target: '/l/1', delta: 'a', index: 0 })).toThrow(PatchApplyError);
    expect(() => applyTokenPatch({ l: ['x'] }, { target: '/l/-', delta: 'a', index: 0 })).toThrow(PatchApplyError);
    expect(() => applyTokenPatch({}, { target: '/__proto__', delta: 'a', index: 0 })).toThrow(PatchApplyError);
  });
});

describe('applyEnvelope', () => {
  it('applies state_patch and token_patch and ignores log / snapshot_created', () => {
    let s: JsonValue = {};
    s = applyEnvelope(s, envelope(1, 'state_patch', { ops: [{ op: 'add', path: '/t', value: '' }] }, 1));
    s = applyEnvelope(s, envelope(2, 'token_patch', { target: '/t', delta: 'hi', index: 0 }, 1));
    const before = s;
    s = applyEnvelope(s, envelope(3, 'log', { level: 'info', message: 'm' }, 1));
    s = applyEnvelope(s, envelope(4, 'snapshot_created', { ref: { artifact_id: 'a' }, seq: 3, version: 1, size: 1, sha256: 'x' }, 1));
    expect(s).toBe(before);
    expect(s).toEqual({ t: 'hi' });
  });
});
