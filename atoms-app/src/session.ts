/**
 * Who and where: the canvas id from the page URL (`?canvas=demo` or `#demo`), the person's name
 * and colour, the role (`?role=viewer`: a read-only viewer) and the demo identity (`GET /demo/token`,
 * served by `atoms serve --demo`, granted this canvas only).
 */

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}$/;
const NAME_KEY = 'atoms-app.name';
const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Radia', 'Leslie'];
export const COLORS = ['#e4572e', '#17bebb', '#7768ae', '#f3a712', '#29335c', '#db5a9b', '#3b8ea5', '#4c9f38'];
export const GUEST_PREFIX = 'guest:';

export type Role = 'editor' | 'viewer';

export interface Session {
  canvasId: string;
  streamId: string;
  name: string;
  color: string;
  /** A viewer sees the canvas live (and shows its cursor) but cannot change it. */
  role: Role;
  getToken: () => Promise<string>;
}

/** `?role=viewer` makes a read-only viewer; anything else an editor. */
export function roleFrom(loc: Location): Role {
  return new URLSearchParams(loc.search).get('role') === 'viewer' ? 'viewer' : 'editor';
}

/** The canvas id in the URL, or "demo"; null when the URL names an invalid one. */
export function canvasIdFrom(loc: Location): string | null {
  const raw = new URLSearchParams(loc.search).get('canvas') ?? decodeURIComponent(loc.hash.replace(/^#/, ''));
  const id = raw === '' ? 'demo' : raw;
  return ID_RE.test(id) ? id : null;
}

function randomName(): string {
  const first = FIRST[Math.floor(Math.random() * FIRST.length)] ?? 'Guest';
  return `${first}-${Math.floor(Math.random() * 900 + 100)}`;
}

/** `?name=` (remembered), else the remembered name, else a fresh random one. */
export function nameFrom(loc: Location, storage: Storage | undefined): string {
  const fromUrl = new URLSearchParams(loc.search).get('name');
  let stored: string | null = null;
  try {
    stored = storage?.getItem(NAME_KEY) ?? null;
  } catch {
    // storage disabled: a random name per page load
  }
  const name = [fromUrl, stored].find((n): n is string => n !== null && NAME_RE.test(n)) ?? randomName();
  try {
    storage?.setItem(NAME_KEY, name);
  } catch {
    // ignore
  }
  return name;
}

export function colorOf(name: string): string {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) | 0;
  return COLORS[Math.abs(hash) % COLORS.length] ?? '#333';
}

/** A display name for a principal id (`guest:Ada` → `Ada`). */
export function displayName(principal: string): string {
  return principal.startsWith(GUEST_PREFIX) ? principal.slice(GUEST_PREFIX.length) : principal;
}

/**
 * Asks the demo server for an identity token on every call (the transport calls it once per
 * ticket, i.e. per (re)connect): the request also (re)starts the demo agent on this canvas, so
 * the agent is back after a server restart. Concurrent calls share one request.
 */
function demoTokenSource(canvasId: string, name: string, role: Role): () => Promise<string> {
  let inflight: Promise<string> | undefined;
  const query = new URLSearchParams({ name, canvas: canvasId, role });
  return () => {
    inflight ??= (async () => {
      try {
        const res = await fetch(`/demo/token?${query}`, { cache: 'no-store' });
        if (!res.ok) throw new Error(`GET /demo/token: ${res.status}`);
        const body = (await res.json()) as { token?: unknown };
        if (typeof body.token !== 'string') throw new Error('GET /demo/token: no token');
        return body.token;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
}

export function createSession(loc: Location, storage: Storage | undefined): Session | null {
  const canvasId = canvasIdFrom(loc);
  if (canvasId === null) return null;
  const name = nameFrom(loc, storage);
  const role = roleFrom(loc);
  return {
    canvasId,
    streamId: `canvas:${canvasId}`,
    name,
    color: colorOf(name),
    role,
    getToken: demoTokenSource(canvasId, name, role),
  };
}
