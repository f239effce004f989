import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs script without types
import { scanText } from '../scripts/check-no-raw-transport.mjs';

const script = resolve(dirname(fileURLToPath(import.meta.url)), '../scripts/check-no-raw-transport.mjs');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function run(dir: string): { code: number; out: string } {
  try {
    const out = execFileSync(process.execPath, [script, dir], { encoding: 'utf8', stdio: 'pipe' });
    return { code: 0, out };
  } catch (e) {
    const err = e as { status: number; stderr: string };
    return { code: err.status, out: err.stderr };
  }
}

describe('check-no-raw-transport', () => {
  const scan = scanText as (t: string) => { line: number; rule: string }[];

  it('flags EventSource, WebSocket and fetch to /v1/streams', () => {
    const hits = scan(
      [
        'const es = new EventSource(url);',
        'const ws = new window.WebSocket(`wss://x/v1/streams/${id}/ws`);',
        'await fetch(`${base}/v1/streams/${id}/commands`, { method: "POST" });',
        'await fetch(\n  base + "/v1/streams/" + id + "/events",\n  {}\n);',
      ].join('\n'),
    );
    expect(hits.map((h) => [h.line, h.rule])).toEqual([
      [1, 'new EventSource('],
      [2, 'new WebSocket('],
      [3, 'fetch( to /v1/streams'],
      [4, 'fetch( to /v1/streams'],
    ]);
  });

  it('allows CanvasTransport use and unrelated fetches', () => {
    expect(
      scan(
        [
          "import { CanvasTransport } from 'atoms-ui';",
          "const t = new CanvasTransport({ baseUrl, streamId: 'canvas:demo', getToken });",
          "await fetch('/api/profile');",
          "const EventSourceLike = 1; const WebSocketCount = 2;",
        ].join('\n'),
      ),
    ).toEqual([]);
  });

  it('exits 1 with file:line on violations, 0 when clean, 2 without a directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'no-raw-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'src', 'node_modules'), { recursive: true });
    writeFileSync(join(dir, 'src', 'ok.tsx'), "export const x = await fetch('/health');\n");
    writeFileSync(join(dir, 'src', 'node_modules', 'lib.js'), 'new WebSocket(u)\n');
    expect(run(dir).code).toBe(0);
    writeFileSync(join(dir, 'src', 'bad.ts'), '\n\nconst s = new EventSource("/v1/streams/canvas:x/events");\n');
    const r = run(dir);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/bad\.ts:3: new EventSource\(/);
    expect(run(join(dir, 'nope')).code).toBe(2);
  });
});
