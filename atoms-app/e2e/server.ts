/**
 * A real `atoms serve` (with `--demo` unless told otherwise) for the browser tests: a subprocess
 * with its own data dir that binds port 0 and says which port it got on its startup line (a port
 * picked beforehand could be taken by another socket before the server binds it); killable
 * (SIGKILL, like a crash) and restartable on the same port and data dir.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ATOMS = resolve(import.meta.dirname, '../../.venv/bin/atoms');

/** `atoms: serving http://127.0.0.1:<port>/?canvas=demo (engine sqlite, data dir …)`, as atoms-core/tests/servers.py reads it. */
const STARTUP = /atoms: serving https?:\/\/[^ ]*?:(\d+)[/ ]/;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Extra `ATOMS_<KEY>` settings (see atoms-core/src/atoms_core/config/settings.py), e.g. `{ ATOMS_TICKET_TTL_S: '3' }`. */
export type AtomsEnv = Record<string, string>;

export class AtomsServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'atoms-e2e-'));
  readonly dataDir = join(this.dir, 'data');
  readonly logPath = join(this.dir, 'server.log');
  /** 0 until the first start has bound one; every restart binds this port again. */
  port = 0;
  private env: AtomsEnv = {};
  private proc: ChildProcess | undefined;

  constructor(private readonly options: { demo?: boolean } = {}) {}

  get url(): string {
    if (this.port === 0) throw new Error('atoms serve has not started yet');
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the server; `env` (kept for later restarts) adds settings to the environment. */
  async start(env?: AtomsEnv): Promise<void> {
    if (env) this.env = env;
    const offset = existsSync(this.logPath) ? statSync(this.logPath).size : 0;
    const log = openSync(this.logPath, 'a');
    const demo = this.options.demo ?? true ? ['--demo'] : [];
    const proc = spawn(ATOMS, ['serve', ...demo, '--host', '127.0.0.1', '--port', String(this.port), '--data-dir', this.dataDir], {
      stdio: ['ignore', log, log],
      env: { ...process.env, ...this.env },
    });
    this.proc = proc;
    this.port = await this.boundPort(proc, offset);
  }

  /** The port from this start's startup line, printed once the server listens and is ready. */
  private async boundPort(proc: ChildProcess, offset: number): Promise<number> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const match = STARTUP.exec(readFileSync(this.logPath).subarray(offset).toString('utf8'));
      if (match) return Number(match[1]);
      if (proc.exitCode !== null) throw new Error(`atoms serve exited with ${proc.exitCode}:\n${this.log()}`);
      await sleep(50);
    }
    throw new Error(`atoms serve printed no startup line in 20 s:\n${this.log()}`);
  }

  /** SIGKILL: no graceful shutdown, as in a crash. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  log(): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '';
    }
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(sig);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** A port that was free a moment ago: only for servers that cannot bind port 0 themselves (see spawnListening). */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

/**
 * Starts a server that cannot bind port 0 and report it (nginx) on `count` free ports, trying
 * others when it lost the race for one: the ports are free when picked but not reserved.
 * `listening` resolves once the server listens on the ports it was given, and rejects when it
 * exited (a port was taken meanwhile).
 */
export async function spawnListening(
  count: number,
  start: (ports: number[]) => ChildProcess,
  listening: (proc: ChildProcess, ports: number[]) => Promise<void>,
  attempts = 3,
): Promise<{ proc: ChildProcess; ports: number[] }> {
  for (let attempt = 1; ; attempt++) {
    const ports: number[] = [];
    while (ports.length < count) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const proc = start(ports);
    try {
      await listening(proc, ports);
      return { proc, ports };
    } catch (err) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      if (attempt >= attempts) throw err;
    }
  }
}
