import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from '../src/backoff.js';

describe('backoffDelay (full jitter)', () => {
  it('stays within [0, min(cap, base*2^n)]', () => {
    for (let n = 0; n < 50; n++) {
      const window = Math.min(10_000, 250 * 2 ** n);
      expect(backoffDelay(n, 250, 10_000, () => 0)).toBe(0);
      const hi = backoffDelay(n, 250, 10_000, () => 0.999999);
      expect(hi).toBeLessThanOrEqual(window);
      expect(hi).toBeGreaterThanOrEqual(Math.floor(window * 0.999));
    }
  });

  it('never exceeds the cap and survives huge attempt numbers', () => {
    expect(backoffDelay(1e9, 250, 10_000, () => 0.9999)).toBeLessThanOrEqual(10_000);
    expect(Number.isFinite(backoffDelay(Number.MAX_SAFE_INTEGER, 250, 10_000))).toBe(true);
  });

  it('random samples are all in bounds', () => {
    for (let i = 0; i < 2000; i++) {
      const n = i % 12;
      const d = backoffDelay(n, 250, 10_000);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(Math.min(10_000, 250 * 2 ** n));
    }
  });
});

describe('Backoff', () => {
  it('grows per attempt and resets', () => {
    const b = new Backoff({ random: () => 0.5 });
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([125, 250, 500, 1000]);
    expect(b.attempt).toBe(4);
    b.reset();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(125);
  });

  it('caps at 10 s by default', () => {
    const b = new Backoff({ random: () => 0.9999999 });
    let last = 0;
    for (let i = 0; i < 40; i++) last = b.next();
    expect(last).toBeLessThanOrEqual(10_000);
    expect(last).toBeGreaterThan(9_990);
  });

  it("honours the server's retry as a minimum base", () => {
    const b = new Backoff({ random: () => 0.5 });
    b.setMinBase(2000);
    expect(b.effectiveBaseMs).toBe(2000);
    expect(b.next()).toBe(1000);
    expect(b.next()).toBe(2000);
    b.setMinBase(50_000);
    expect(b.effectiveCapMs).toBe(50_000);
    b.reset();
    expect(b.next()).toBe(25_000);
    b.setMinBase(Number.NaN);
    expect(b.effectiveBaseMs).toBe(50_000);
  });
});
