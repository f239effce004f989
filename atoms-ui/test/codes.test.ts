import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, ERROR_CODES, RESYNC_REASONS, WS_ERROR_CODES, reconnectsAfter } from '../src/codes.js';
import { WS_ERROR_MEANINGS } from '../src/generated/contracts.js';

// Generated from atoms-core's CODES by `make schemas` (and checked for drift by `make test`).
const schemas = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/schemas');
const exported = <T>(name: string): T => JSON.parse(readFileSync(resolve(schemas, `${name}.json`), 'utf8')) as T;
const schema = exported<{ 'x-status': Record<string, number> }>('ProblemCode');

describe('problem codes', () => {
  it('are exactly the server codes, with the same HTTP statuses', () => {
    expect(ERROR_CODES).toEqual(schema['x-status']);
  });
});

type CloseRow = { code: number; reconnect: boolean; meaning: string };

describe('close codes', () => {
  const closeCode = exported<{ enum: number[]; 'x-close': Record<string, CloseRow> }>('CloseCode');

  it('are exactly the server table: names, numbers, reconnect rule and meaning', () => {
    expect(CLOSE_CODES).toEqual(closeCode['x-close']);
    expect(Object.values(CLOSE_CODES).map((row) => row.code).sort()).toEqual([...closeCode.enum].sort());
  });

  it('decide reconnect-vs-fatal from that table; an unknown code reconnects', () => {
    for (const row of Object.values(closeCode['x-close'])) expect(reconnectsAfter(row.code)).toBe(row.reconnect);
    expect([1008, 1009].map(reconnectsAfter)).toEqual([false, false]);
    expect([1000, 1001, 1006, 1011, 1012, 1013, 4000, 4999].every(reconnectsAfter)).toBe(true);
  });
});

describe('resync reasons', () => {
  it('are exactly the server reasons', () => {
    const reasons = exported<{ enum: string[]; 'x-meaning': Record<string, string> }>('ResyncReason');
    expect(RESYNC_REASONS).toEqual(reasons['x-meaning']);
    expect(Object.keys(RESYNC_REASONS).sort()).toEqual([...reasons.enum].sort());
  });
});

describe('WebSocket error codes', () => {
  it('are exactly the server codes, with their meanings', () => {
    const codes = exported<{ enum: string[]; 'x-meaning': Record<string, string> }>('WsErrorCode');
    expect(WS_ERROR_MEANINGS).toEqual(codes['x-meaning']);
    expect([...WS_ERROR_CODES].sort()).toEqual([...codes.enum].sort());
  });

  it('are the codes an error frame may carry', () => {
    const frame = exported<{ $defs: { WsErrorCode: { enum: string[] } } }>('WsError');
    expect([...WS_ERROR_CODES].sort()).toEqual([...frame.$defs.WsErrorCode.enum].sort());
  });
});
