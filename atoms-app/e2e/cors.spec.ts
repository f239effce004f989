/**
 * CORS from a real browser: a page served on one origin runs CanvasTransport (atoms-ui's built ESM
 * bundle) against an `atoms serve` on another origin. With the page's origin in `cors_origins` the
 * ticket, SSE stream, command and WebSocket all work end to end; with an empty allow-list the browser
 * refuses the very first cross-origin request.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { expect, test } from '@playwright/test';
import { CHROMIUM } from '../playwright.config.js';
import { freePort } from './server.js';

const ATOMS = resolve(import.meta.dirname, '../../.venv/bin/atoms');
const UI = resolve(import.meta.dirname, '../../atoms-ui');

const PAGE = `<!doctype html><html><head>
<script type="importmap">{"imports": {"fast-json-patch": "/npm/fast-json-patch/index.mjs"}}</script>
<script type="module">
  import { CanvasTransport } from '/ui/index.js';
  window.runCanvas = async (baseUrl, token) => {
    const t = new CanvasTransport({ baseUrl, streamId: 'canvas:cors', getToken: async () => token });
    const errors = [];
    t.on('error', (e) => errors.push(String(e.error?.code ?? e.kind)));
    t.connect();
    const deadline = Date.now() + 8000;
    while (t.syncStatus !== 'synced' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (t.syncStatus !== 'synced') { t.close(); return { synced: false, errors }; }
    await t.command('state.patch', { ops: [{ op: 'add', path: '/hello', value: 'from the browser' }] });
    await t.waitForSeq(1);
    while (t.presence.status !== 'open' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const result = { synced: true, state: t.getState(), presence: t.presence.status, errors };
    t.close();
    return result;
  };
</script></head><body>cors page</body></html>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html' };

function pageServer(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    let file: string | undefined;
    if (url.startsWith('/ui/')) file = join(UI, 'dist', url.slice(4));
    else if (url.startsWith('/npm/')) file = join(UI, 'node_modules', url.slice(5));
    if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    } else if (file && !file.includes('..') && existsSync(file)) {
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

async function atomsServe(dataDir: string, port: number, origins: string[]): Promise<ChildProcess> {
  const log = openSync(join(dataDir, '..', `server-${port}.log`), 'a');
  const env = { ...process.env, ATOMS_CORS_ORIGINS: JSON.stringify(origins) };
  const proc = spawn(ATOMS, ['serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir], { stdio: ['ignore', log, log], env });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return proc;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error('atoms serve did not start');
}

test.describe('CORS', () => {
  test.skip(!existsSync(CHROMIUM) || !existsSync(join(UI, 'dist', 'index.js')), 'needs Chromium and a built atoms-ui');

  for (const listed of [true, false]) {
    test(listed ? 'a listed origin runs CanvasTransport end to end' : 'an unlisted origin is refused by the browser', async ({ page }) => {
      const dir = mkdtempSync(join(tmpdir(), 'atoms-cors-'));
      const [pagePort, apiPort] = [await freePort(), await freePort()];
      const pageOrigin = `http://127.0.0.1:${pagePort}`;
      const site = await pageServer(pagePort);
      const api = await atomsServe(join(dir, 'data'), apiPort, listed ? [pageOrigin] : []);
      try {
        const token = execFileSync(ATOMS, ['token', '--data-dir', join(dir, 'data'), '--tenant', 'acme', '--principal', 'ada']).toString().trim();
        await page.goto(pageOrigin + '/');
        await page.waitForFunction(() => 'runCanvas' in window);
        const result = await page.evaluate(([base, jwt]) => (window as unknown as { runCanvas: (b: string, t: string) => Promise<Record<string, unknown>> }).runCanvas(base!, jwt!), [`http://127.0.0.1:${apiPort}`, token]);
        if (listed) {
          expect(result).toMatchObject({ synced: true, state: { hello: 'from the browser' }, presence: 'open' });
        } else {
          expect(result.synced).toBe(false);
          expect(result.errors).toContain('network_error');
        }
      } finally {
        api.kill('SIGTERM');
        site.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
