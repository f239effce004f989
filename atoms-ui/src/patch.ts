/**
 * Applying durable events to the materialised state, exactly as the server does.
 * - `state_patch`: RFC 6902 via fast-json-patch, atomically (all ops or none).
 * - `token_patch`: append `delta` to the string at the JSON Pointer `target`
 *   (a missing object member is created as ""; anything else missing or not a string fails).
 * Never mutates its input; unchanged subtrees keep their identity for token patches.
 */
import jsonpatch from 'fast-json-patch';
import { PatchApplyError } from './errors.js';
import type { EventEnvelope, JsonValue, PatchOperation, StatePatchData, TokenPatchData } from './types.js';

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function isObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Splits a JSON Pointer (RFC 6901) into unescaped reference tokens. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchApplyError(`invalid JSON Pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => {
      if (/~[^01]|~$/.test(t)) throw new PatchApplyError(`invalid escape in JSON Pointer "${pointer}"`);
      return t.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** Builds a JSON Pointer from tokens. */
export function formatPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => '/' + String(t).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

function arrayIndex(token: string, length: number): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
  const i = Number(token);
  return i < length ? i : undefined;
}

/** Reads the value at a JSON Pointer, or undefined if it does not exist. */
export function getAtPointer(doc: JsonValue, pointer: string): JsonValue | undefined {
  let node: JsonValue | undefined = doc;
  for (const token of parsePointer(pointer)) {
    if (Array.isArray(node)) {
      const i = arrayIndex(token, node.length);
      node = i === undefined ? undefined : node[i];
    } else if (isObject(node)) {
      node = hasOwn(node, token) ? node[token] : undefined;
    } else {
      return undefined;
    }
    if (node === undefined) return undefined;
  }
  return node;
}

/** Applies RFC 6902 operations atomically; returns the new document or throws {@link PatchApplyError}. */
export function applyStatePatch(state: JsonValue, ops: readonly PatchOperation[]): JsonValue {
  if (!Array.isArray(ops)) throw new PatchApplyError('state_patch without an ops array');
  try {
    // validate=true, mutateDocument=false (deep-clones the document first, so a failure leaves
    // `state` intact), banPrototypeModifications=true. The ops are cloned too: fast-json-patch
    // inserts op values by reference, so a later op would otherwise mutate the caller's event.
    const ownOps = jsonpatch.deepClone(ops) as jsonpatch.Operation[];
    const res = jsonpatch.applyPatch(state, ownOps, true, false, true);
    return res.newDocument as JsonValue;
  } catch (err) {
    throw patchApplyError(err);
  }
}

/** Wraps a fast-json-patch failure (or ours) into a {@link PatchApplyError}. */
export function patchApplyError(err: unknown): PatchApplyError {
  if (err instanceof PatchApplyError) return err;
  const e = err as { message?: string; index?: number; name?: string };
  const first = (e.message ?? String(err)).split('\n')[0];
  return new PatchApplyError(`state_patch does not apply: ${e.name ?? 'Error'} ${first}`, e.index, err);
}

function appendAt(node: JsonValue, tokens: string[], i: number, delta: string, target: string): JsonValue {
  const token = tokens[i] as string;
  const last = i === tokens.length - 1;
  if (Array.isArray(node)) {
    const idx = arrayIndex(token, node.length);
    if (idx === undefined) throw new PatchApplyError(`token_patch target ${target}: no array element "${token}"`);
    const child = node[idx] as JsonValue;
    const next = last ? appendString(child, delta, target) : appendAt(child, tokens, i + 1, delta, target);
    const copy = node.slice();
    copy[idx] = next;
    return copy;
  }
  if (isObject(node)) {
    if (token === '__proto__') throw new PatchApplyError(`token_patch target ${target}: forbidden key`);
    const exists = hasOwn(node, token);
    let next: JsonValue;
    if (last) {
      next = exists ? appendString(node[token] as JsonValue, delta, target) : delta;
    } else {
      if (!exists) throw new PatchApplyError(`token_patch target ${target}: no member "${token}"`);
      next = appendAt(node[token] as JsonValue, tokens, i + 1, delta, target);
    }
    return { ...node, [token]: next };
  }
  throw new PatchApplyError(`token_patch target ${target}: cannot descend into a ${node === null ? 'null' : typeof node}`);
}

function appendString(current: JsonValue, delta: string, target: string): string {
  if (typeof current !== 'string') throw new PatchApplyError(`token_patch target ${target} is not a string`);
  return current + delta;
}

/** Appends `delta` to the string at `target`; returns the new document. */
export function applyTokenPatch(state: JsonValue, data: TokenPatchData): JsonValue {
  if (typeof data?.target !== 'string' || typeof data.delta !== 'string') {
    throw new PatchApplyError('token_patch needs a string target and delta');
  }
  const tokens = parsePointer(data.target);
  if (tokens.length === 0) return appendString(state, data.delta, data.target);
  return appendAt(state, tokens, 0, data.delta, data.target);
}

/** Applies one durable event. Types other than state_patch / token_patch leave state unchanged. */
export function applyEnvelope(state: JsonValue, envelope: EventEnvelope): JsonValue {
  switch (envelope.type) {
    case 'state_patch':
      return applyStatePatch(state, (envelope.data as unknown as StatePatchData).ops);
    case 'token_patch':
      return applyTokenPatch(state, envelope.data as unknown as TokenPatchData);
    default:
      return state;
  }
}

/** Applies a sequence of events in order (used by tests and by replay tooling). */
export function applyEnvelopes(state: JsonValue, envelopes: readonly EventEnvelope[]): JsonValue {
  return envelopes.reduce<JsonValue>((s, e) => applyEnvelope(s, e), state);
}
