#!/usr/bin/env node
// Fails when app code opens its own realtime connection instead of using CanvasTransport
// (CONTRACT §11): `new EventSource(`, `new WebSocket(`, or a `fetch(` whose arguments
// mention `/v1/streams`.
//   usage: node check-no-raw-transport.mjs <dir> [<dir>...]
// Exit 0: clean; 1: violations (listed as file:line: rule); 2: usage error.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';

const EXTS = new Set(['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs', '.vue', '.svelte', '.astro', '.html']);
const SKIP_DIRS = new Set(['node_modules', 'dist', 'build', '.git', 'coverage', '.next', '.svelte-kit', '.turbo']);

const RULES = [
  { name: 'new EventSource(', re: /\bnew\s+(?:globalThis\.|window\.|self\.)?EventSource\s*\(/g },
  { name: 'new WebSocket(', re: /\bnew\s+(?:globalThis\.|window\.|self\.)?WebSocket\s*\(/g },
];
const FETCH_RE = /\bfetch\s*\(/g;

/** The argument text of a call starting at `open` (index of "("), balanced, capped at 2000 chars. */
function callArgs(text, open) {
  let depth = 0;
  const end = Math.min(text.length, open + 2000);
  for (let i = open; i < end; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return text.slice(open + 1, i);
    }
  }
  return text.slice(open + 1, end);
}

function lineOf(text, index) {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

export function scanText(text) {
  const hits = [];
  for (const rule of RULES) {
    for (const m of text.matchAll(rule.re)) hits.push({ line: lineOf(text, m.index), rule: rule.name });
  }
  for (const m of text.matchAll(FETCH_RE)) {
    const open = m.index + m[0].length - 1;
    if (callArgs(text, open).includes('/v1/streams')) hits.push({ line: lineOf(text, m.index), rule: 'fetch( to /v1/streams' });
  }
  return hits.sort((a, b) => a.line - b.line);
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) {
      if (!SKIP_DIRS.has(name)) yield* walk(p);
    } else if (st.isFile() && EXTS.has(extname(name))) {
      yield p;
    }
  }
}

function main(argv) {
  const dirs = argv.slice(2);
  if (dirs.length === 0) {
    console.error('usage: check-no-raw-transport.mjs <dir> [<dir>...]');
    return 2;
  }
  let violations = 0;
  let files = 0;
  for (const dir of dirs) {
    let st;
    try {
      st = statSync(dir);
    } catch {
      console.error(`check-no-raw-transport: no such directory: ${dir}`);
      return 2;
    }
    const list = st.isDirectory() ? [...walk(dir)] : [dir];
    for (const file of list) {
      files++;
      for (const h of scanText(readFileSync(file, 'utf8'))) {
        violations++;
        console.error(`${relative(process.cwd(), file)}:${h.line}: ${h.rule} — use CanvasTransport from atoms-ui`);
      }
    }
  }
  if (violations > 0) {
    console.error(`check-no-raw-transport: ${violations} violation(s) in ${files} file(s)`);
    return 1;
  }
  console.log(`check-no-raw-transport: ok (${files} file(s) scanned)`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('check-no-raw-transport.mjs')) {
  process.exitCode = main(process.argv);
}
