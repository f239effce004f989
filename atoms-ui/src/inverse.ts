/**
 * Inverse patches for undo: applies this user's own state_patch exactly as `applyStatePatch` does
 * (one clone of the state, ops in order, atomic) and, on the way, records each op's inverse from
 * the state just before it. The inverse starts with `test` ops asserting the values the patch
 * produced, so the server refuses it (422 `patch_failed`) once anybody changed or deleted them.
 */
import jsonpatch from 'fast-json-patch';
import { PatchApplyError } from './errors.js';
import { formatPointer, getAtPointer, parsePointer, patchApplyError } from './patch.js';
import type { JsonValue, PatchOperation } from './types.js';

export interface AppliedWithInverse {
  state: JsonValue;
  /** `test` ops for the produced values, then the inverse ops in reverse order. */
  inverse: PatchOperation[];
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function parentOf(tokens: readonly string[]): string {
  return formatPointer(tokens.slice(0, -1));
}

/** The path of an array element, with a trailing `-` resolved to `appendIndex`. */
function arrayPath(tokens: readonly string[], appendIndex: number): string {
  const last = tokens[tokens.length - 1] as string;
  return `${parentOf(tokens)}/${last === '-' ? appendIndex : last}`;
}

function existing(doc: JsonValue, path: string): JsonValue {
  const v = getAtPointer(doc, path);
  if (v === undefined) throw new PatchApplyError(`state_patch does not apply: no value at ${path}`);
  return v;
}

interface OpInverse {
  ops: PatchOperation[];
  /** The (resolved) path this op wrote, if it wrote one. */
  written?: string;
}

/** Inverse of an add/copy (a value appears at `path`), computed before applying. */
function inverseOfInsert(doc: JsonValue, path: string): OpInverse {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return { ops: [{ op: 'replace', path: '', value: doc }], written: '' };
  const parent = getAtPointer(doc, parentOf(tokens));
  if (Array.isArray(parent)) {
    const resolved = arrayPath(tokens, parent.length);
    return { ops: [{ op: 'remove', path: resolved }], written: resolved };
  }
  const key = tokens[tokens.length - 1] as string;
  if (typeof parent === 'object' && parent !== null && hasOwn(parent, key)) {
    return { ops: [{ op: 'replace', path, value: parent[key] as JsonValue }], written: path };
  }
  return { ops: [{ op: 'remove', path }], written: path };
}

/** Inverse of a move, from the value it overwrote (if any) and the document after it. */
function inverseOfMove(overwritten: JsonValue | undefined, after: JsonValue, from: string, path: string): OpInverse {
  if (from === path) return { ops: [] };
  const tokens = parsePointer(path);
  const parentAfter = tokens.length > 0 ? getAtPointer(after, parentOf(tokens)) : undefined;
  if (Array.isArray(parentAfter)) {
    // an array destination is an insertion: nothing was overwritten
    const resolved = arrayPath(tokens, parentAfter.length - 1);
    return { ops: [{ op: 'move', from: resolved, path: from }], written: resolved };
  }
  const back: PatchOperation[] = [{ op: 'move', from: path, path: from }];
  if (overwritten !== undefined) back.push({ op: 'add', path, value: overwritten });
  return { ops: back, written: path };
}

/** Keeps only paths with no ancestor in the set (a test of the ancestor covers them). */
function outermost(paths: readonly string[]): string[] {
  const set = new Set(paths);
  return [...set].filter((p) => {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (set.has(p.slice(0, i))) return false;
    return p === '' || !set.has('');
  });
}

/** Applies `ops` to `state` (never mutated) and returns the new state and the guarded inverse. */
export function applyStatePatchWithInverse(state: JsonValue, ops: readonly PatchOperation[]): AppliedWithInverse {
  if (!Array.isArray(ops)) throw new PatchApplyError('state_patch without an ops array');
  let doc = jsonpatch.deepClone(state) as JsonValue;
  const inverses: PatchOperation[][] = [];
  const written: string[] = [];
  try {
    ops.forEach((raw, i) => {
      const op = jsonpatch.deepClone(raw) as PatchOperation;
      let inv: OpInverse;
      let after: JsonValue;
      switch (op.op) {
        case 'add':
        case 'copy':
          inv = inverseOfInsert(doc, op.path);
          after = apply(doc, op, i);
          break;
        case 'remove':
          inv = { ops: [{ op: 'add', path: op.path, value: existing(doc, op.path) }] };
          after = apply(doc, op, i);
          break;
        case 'replace':
          inv = { ops: [{ op: 'replace', path: op.path, value: existing(doc, op.path) }], written: op.path };
          after = apply(doc, op, i);
          break;
        case 'move': {
          const overwritten = getAtPointer(doc, op.path);
          after = apply(doc, op, i);
          inv = inverseOfMove(overwritten, after, op.from, op.path);
          break;
        }
        default:
          inv = { ops: [] };
          after = apply(doc, op, i);
      }
      doc = after;
      inverses.push(inv.ops);
      if (inv.written !== undefined) written.push(inv.written);
    });
  } catch (err) {
    throw patchApplyError(err);
  }
  const tests: PatchOperation[] = [];
  for (const path of outermost(written)) {
    const value = getAtPointer(doc, path);
    if (value !== undefined) tests.push({ op: 'test', path, value });
  }
  return { state: doc, inverse: [...tests, ...inverses.reverse().flat()] };
}

/** One op, in place on our private clone, with the same checks as `applyStatePatch`. */
function apply(doc: JsonValue, op: PatchOperation, index: number): JsonValue {
  return jsonpatch.applyOperation(doc, op as jsonpatch.Operation, true, true, true, index).newDocument as JsonValue;
}
