/**
 * CORS from a real browser: a page served on one origin runs CanvasTransport (atoms-ui's built ESM
 * bundle) against an `atoms serve` on another origin. With the page's origin in `cors_origins` the
 * ticket, SSE stream, command and WebSocket all work end to end; with an empty allow-list the browser
 * refuses the very first cross-origin request.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve } from 'node:path';
import { expect, test } from '@playwright/test';
import { CHROMIUM } from '../playwright.config.js';
import { ATOMS, AtomsServer } from './server.js';

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

/** The page's own origin: a static server on a port the OS picks (port 0). */
function pageServer(): Promise<Server> {
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
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

test.describe('CORS', () => {
  test.skip(!existsSync(CHROMIUM) || !existsSync(join(UI, 'dist', 'index.js')), 'needs Chromium and a built atoms-ui');

  for (const listed of [true, false]) {
    test(listed ? 'a listed origin runs CanvasTransport end to end' : 'an unlisted origin is refused by the browser', async ({ page }) => {
      const site = await pageServer();
      const pageOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
      const api = new AtomsServer({ demo: false });
      try {
        await api.start({ ATOMS_CORS_ORIGINS: JSON.stringify(listed ? [pageOrigin] : []) });
        const token = execFileSync(ATOMS, ['token', '--data-dir', api.dataDir, '--tenant', 'acme', '--principal', 'ada']).toString().trim();
        await page.goto(pageOrigin + '/');
        await page.waitForFunction(() => 'runCanvas' in window);
        const result = await page.evaluate(([base, jwt]) => (window as unknown as { runCanvas: (b: string, t: string) => Promise<Record<string, unknown>> }).runCanvas(base!, jwt!), [api.url, token]);
        if (listed) {
          expect(result).toMatchObject({ synced: true, state: { hello: 'from the browser' }, presence: 'open' });
        } else {
          expect(result.synced).toBe(false);
          expect(result.errors).toContain('network_error');
        }
      } finally {
        await api.dispose();
        site.close();
      }
    });
  }
});
