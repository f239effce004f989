/**
 * docs/deploy.md for real: Debian's nginx with a self-signed certificate in front of `atoms serve
 * --demo`, using the nginx config exactly as the doc prints it (only ports and certificate paths
 * changed). Chromium opens ten tabs of one canvas in one profile over HTTPS + HTTP/2 — past HTTP/1.1's
 * six connections per host — draws in one and sees it in all; an SSE frame's latency through the
 * proxy is measured; `/readyz` answers through the doc's own location. Without nginx or openssl the
 * test skips, except under CI=true where that fails.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, type BrowserContext, type Page, test } from '@playwright/test';
import { CHROMIUM } from '../playwright.config.js';
import { expect } from './fixtures.js';
import { addShape, shape } from './helpers.js';
import { AtomsServer, spawnListening } from './server.js';

const DEPLOY_MD = resolve(import.meta.dirname, '../../docs/deploy.md');
const TABS = 10;
const OTHER_CANVASES = 7; // distinct canvases: a connection each
const PROBES = 10;

function missing(): string | null {
  for (const [what, path] of [['nginx', '/usr/sbin/nginx'], ['openssl', '/usr/bin/openssl'], ['chromium', CHROMIUM]] as const) {
    if (!existsSync(path)) return `no ${what} at ${path} (make system-deps installs it)`;
  }
  return null;
}

/** The doc's nginx block with the test's ports and certificate; each replaced line must exist. */
function nginxConfig(dir: string, upstream: number, https: number, http: number): string {
  const doc = readFileSync(DEPLOY_MD, 'utf8');
  const block = /```nginx\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/deploy.md has no nginx block');
  // The latency probe cannot notice a lost `proxy_buffering off`: atoms sends X-Accel-Buffering: no,
  // and even without that header nginx 1.22 forwards small SSE chunks at once. The doc must say it.
  const events = /location [^{]*\/events\$ \{([^}]*)\}/.exec(block)?.[1] ?? '';
  if (!/^\s*proxy_buffering off;$/m.test(events)) throw new Error('docs/deploy.md: the SSE location lost "proxy_buffering off;"');
  const swaps: [string, string][] = [
    ['server 127.0.0.1:8000;', `server 127.0.0.1:${upstream};`],
    ['listen 443 ssl http2;', `listen 127.0.0.1:${https} ssl http2;`],
    ['listen 80;', `listen 127.0.0.1:${http};`],
    ['/etc/ssl/atoms/fullchain.pem', join(dir, 'cert.pem')],
    ['/etc/ssl/atoms/privkey.pem', join(dir, 'key.pem')],
  ];
  let conf = block;
  for (const [from, to] of swaps) {
    if (!conf.includes(from)) throw new Error(`docs/deploy.md nginx block lost ${JSON.stringify(from)}`);
    conf = conf.replace(from, to);
  }
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, t)};`).join('\n');
  return `user root;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  log_format probe '$server_protocol $status $request_method $uri';
  access_log ${join(dir, 'access.log')} probe;
  ${temp}
${conf}
}
`;
}

/**
 * Resolves once nginx has bound its ports (it writes its pid file only after opening them all, so
 * another program already on `port` is never taken for it) and `port` accepts connections.
 */
function waitListening(port: number, proc: ChildProcess, pidFile: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const bound = (): boolean => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(proc.pid);
  return new Promise((res, rej) => {
    const retry = (why: string): void => {
      if (Date.now() > deadline) rej(new Error(why));
      else setTimeout(attempt, 50);
    };
    const attempt = (): void => {
      if (proc.exitCode !== null) return rej(new Error(`nginx exited with ${proc.exitCode}`));
      if (!bound()) return retry(`nginx wrote no pid file in ${timeoutMs} ms`);
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        res();
      });
      sock.once('error', () => {
        sock.destroy();
        retry(`nothing listens on ${port}`);
      });
    };
    attempt();
  });
}

test.describe('behind nginx (docs/deploy.md)', () => {
  test.setTimeout(120_000);
  let dir = '';
  let server: AtomsServer | undefined;
  let nginx: ChildProcess | undefined;
  let browser: Browser | undefined;
  let httpsPort = 0;

  test.beforeAll(async ({ playwright, launchOptions }) => {
    const why = missing();
    if (why !== null) {
      if (process.env.CI) throw new Error(why);
      test.skip(true, why);
      return;
    }
    dir = mkdtempSync(join(tmpdir(), 'atoms-nginx-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
    server = new AtomsServer();
    await server.start();
    const upstream = server.port;
    // nginx cannot listen on port 0: its two ports are picked, and picked again if one was taken meanwhile.
    const started = await spawnListening(
      2,
      ([https = 0, http = 0]) => {
        writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, upstream, https, http));
        execFileSync('nginx', ['-t', '-q', '-e', join(dir, 'error.log'), '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'pipe' });
        rmSync(join(dir, 'nginx.pid'), { force: true });
        return spawn('nginx', ['-e', join(dir, 'error.log'), '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
      },
      (proc, [https = 0]) => waitListening(https, proc, join(dir, 'nginx.pid')),
    );
    nginx = started.proc;
    httpsPort = started.ports[0] ?? 0;
    browser = await playwright.chromium.launch({ ...launchOptions, args: [...(launchOptions.args ?? []), '--ignore-certificate-errors'] });
  });

  test.afterAll(async () => {
    await browser?.close();
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise<void>((r) => nginx?.once('exit', () => r()));
      nginx.kill('SIGQUIT'); // graceful: finishes the access log
      await exited;
    }
    await server?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('ten tabs of one canvas over HTTPS + HTTP/2 are all live, and SSE frames are not batched', async () => {
    if (!browser) throw new Error('no browser');
    const canvas = `deploy-${Date.now().toString(36)}`;
    const context: BrowserContext = await browser.newContext({ ignoreHTTPSErrors: true });
    const origin = `https://127.0.0.1:${httpsPort}`;
    const protocols = new Set<string>();
    const pages: Page[] = [];
    for (let i = 0; i < TABS; i++) {
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      cdp.on('Network.responseReceived', (e) => {
        if (e.response.url.startsWith(origin)) protocols.add(e.response.protocol ?? '?');
      });
      await cdp.send('Network.enable');
      await page.goto(`${origin}/?canvas=${canvas}&name=Tab${i}`);
      pages.push(page);
    }
    // The ten tabs share one SSE connection (CanvasTransport's tab sharing); seven more canvases in
    // the same profile add seven streams of their own: eight at once, impossible over HTTP/1.1 (six per host).
    const others: Page[] = [];
    for (let i = 0; i < OTHER_CANVASES; i++) {
      const page = await context.newPage();
      await page.goto(`${origin}/?canvas=${canvas}-other-${i}&name=Other${i}`);
      others.push(page);
    }
    for (const page of [...pages, ...others]) await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'synced', { timeout: 15_000 });
    expect([...protocols]).toEqual(['h2']);
    const ready = await context.request.get(`${origin}/readyz`);
    expect(ready.status()).toBe(200);
    expect(((await ready.json()) as { status?: unknown }).status).toBe('ready');

    const id = await addShape(pages[0]!, 'rect');
    for (const page of pages) await expect(shape(page, id)).toBeVisible();

    // Each probe: a command, then the moment its state_patch frame arrives over SSE through nginx.
    const probes = await pages[3]!.evaluate(async (count) => {
      interface Transport {
        command(type: string, payload: unknown): Promise<unknown>;
        subscribe(listener: (change: { state: Record<string, unknown> }) => void): () => void;
      }
      const transport = (window as unknown as { atoms: { transport: Transport } }).atoms.transport;
      const out: { roundTripMs: number; afterAckMs: number }[] = [];
      for (let i = 0; i < count; i++) {
        const key = `probe_${i}`;
        const seen = new Promise<number>((res, rej) => {
          const timer = setTimeout(() => rej(new Error(`${key}: no SSE frame within 3 s (buffered?)`)), 3000);
          const off = transport.subscribe(({ state }) => {
            if (key in state) {
              clearTimeout(timer);
              off();
              res(performance.now());
            }
          });
        });
        const start = performance.now();
        await transport.command('state.patch', { ops: [{ op: 'add', path: `/${key}`, value: i }] });
        const acked = performance.now();
        const arrived = await seen;
        out.push({ roundTripMs: arrived - start, afterAckMs: arrived - acked });
        await new Promise((r) => setTimeout(r, 50));
      }
      return out;
    }, PROBES);
    const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
    const rt = sorted(probes.map((p) => p.roundTripMs));
    const after = sorted(probes.map((p) => p.afterAckMs));
    console.log(`SSE through nginx (HTTP/2, ${TABS} tabs): command → frame median ${rt[PROBES >> 1]!.toFixed(1)} ms, ` +
      `max ${rt[PROBES - 1]!.toFixed(1)} ms; frame after the 202 median ${after[PROBES >> 1]!.toFixed(1)} ms, max ${after[PROBES - 1]!.toFixed(1)} ms`);
    expect(rt[PROBES - 1]!).toBeLessThan(1000);
    expect(after[PROBES - 1]!).toBeLessThan(500);

    await context.close();
    const exited = new Promise<void>((r) => nginx?.once('exit', () => r()));
    nginx?.kill('SIGQUIT');
    await exited;
    const log = readFileSync(join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean);
    const events = log.filter((l) => / GET \/v1\/streams\/[^/]+\/events$/.test(l));
    expect(events.length).toBeGreaterThanOrEqual(1 + OTHER_CANVASES);
    expect(events.filter((l) => !l.startsWith('HTTP/2.0 200 '))).toEqual([]);
    const sockets = log.filter((l) => / GET \/v1\/streams\/[^/]+\/ws$/.test(l));
    expect(sockets.length).toBeGreaterThanOrEqual(TABS + OTHER_CANVASES);
    expect(sockets.filter((l) => !l.startsWith('HTTP/1.1 101 '))).toEqual([]);
    expect(log.filter((l) => l.endsWith(' /readyz'))).toEqual([]); // answered by the doc's `location = /readyz` (access_log off)
  });
});
