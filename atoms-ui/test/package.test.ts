/**
 * The npm package as an outside app meets it: `npm pack` (prepack builds), the tarball installed into
 * a fresh app directory, type-checked with strict settings and bundled by Vite, importing only the
 * package name (its `exports` map: ESM and types).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const UI = resolve(import.meta.dirname, '..');
const BIN = join(UI, 'node_modules', '.bin');
const pkg = JSON.parse(readFileSync(join(UI, 'package.json'), 'utf8')) as { name: string; license: string; private?: boolean };

const MAIN_TS = `import { CanvasTransport, CommandError, ERROR_CODES, type StateChange } from '${pkg.name}';

const transport = new CanvasTransport({
  baseUrl: location.origin,
  streamId: 'canvas:demo',
  getToken: async () => (await (await fetch('/demo/token?name=Ada')).json()).token as string,
});
transport.subscribe((change: StateChange) => {
  document.body.textContent = JSON.stringify(change.state);
});
transport.connect();
document.title = 'conflicts answer ' + String(ERROR_CODES.version_conflict);
export async function send(): Promise<void> {
  try {
    await transport.command('state.patch', { ops: [{ op: 'add', path: '/title', value: 'hello' }] });
  } catch (e) {
    if (e instanceof CommandError) console.warn(e.code);
  }
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'ESNext',
    moduleResolution: 'Bundler',
    lib: ['ES2022', 'DOM'],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    isolatedModules: true,
    verbatimModuleSyntax: true,
    types: [],
  },
  include: ['src'],
};

describe('the packed npm package', () => {
  let dir = '';
  let tarball = '';
  let files: string[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'atoms-ui-pack-'));
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir, '--loglevel=error'], { cwd: UI, encoding: 'utf8' });
    const packed = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    tarball = join(dir, packed[0]!.filename);
    files = packed[0]!.files.map((f) => f.path);
    const app = join(dir, 'app');
    mkdirSync(join(app, 'src'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'outside-app', private: true, type: 'module', dependencies: { [pkg.name]: `file:${tarball}` } }));
    writeFileSync(join(app, 'index.html'), '<!doctype html><title>outside</title><script type="module" src="/src/main.ts"></script>');
    writeFileSync(join(app, 'src', 'main.ts'), MAIN_TS);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: app, stdio: 'pipe' });
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is publishable: not private, licensed, with its README, LICENSE and built ESM + types', () => {
    expect(pkg.private).toBeUndefined();
    expect(pkg.license).toBe('Apache-2.0');
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts']));
    expect(files.filter((f) => f.startsWith('test/'))).toEqual([]);
    expect(readFileSync(join(UI, 'LICENSE'), 'utf8')).toBe(readFileSync(join(UI, '..', 'LICENSE'), 'utf8'));
  });

  it('type-checks an outside app that imports it by name', () => {
    const check = spawnSync(join(BIN, 'tsc'), ['-p', join(dir, 'app', 'tsconfig.json')], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  }, 60_000);

  it('bundles into an outside Vite app', () => {
    const app = join(dir, 'app');
    execFileSync(join(BIN, 'vite'), ['build', '--logLevel', 'warn'], { cwd: app, stdio: 'pipe' });
    const assets = readdirSync(join(app, 'dist', 'assets')).filter((f) => f.endsWith('.js'));
    expect(assets).toHaveLength(1);
    const bundle = readFileSync(join(app, 'dist', 'assets', assets[0]!), 'utf8');
    expect(bundle).toContain('/v1/tickets'); // CanvasTransport's ticket route, from the tarball
    expect(bundle).toContain('version_conflict');
  }, 60_000);
});
