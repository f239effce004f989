import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/codes.js';

// Generated from atoms-core's CODES by `make schemas` (and checked for drift by `make test`).
const file = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/schemas/ProblemCode.json');
const schema = JSON.parse(readFileSync(file, 'utf8')) as { 'x-status': Record<string, number> };

describe('problem codes', () => {
  it('are exactly the server codes, with the same HTTP statuses', () => {
    expect(ERROR_CODES).toEqual(schema['x-status']);
  });
});
