/**
 * One SVG node per shape: built once per shape and type, then updated in place from the shape
 * and the geometry to show (the committed one, or a local / remote preview). Images resolve
 * their artifact ref through the transport, once per ref.
 */
import type { CanvasTransport } from '@atoms-realtime/ui';
import { setAttrs, svg } from './dom.js';
import type { Geometry, Shape, ShapeType } from './model.js';

export interface ShapeNode {
  g: SVGGElement;
  body: SVGElement;
  hit: SVGRectElement;
  type: ShapeType;
  imageKey?: string;
}

export function createNode(s: Shape): ShapeNode {
  const g = svg('g', { class: 'shape', 'data-id': s.id, 'data-type': s.type });
  let body: SVGElement;
  switch (s.type) {
    case 'rect':
      body = svg('rect', { rx: 6 });
      break;
    case 'ellipse':
      body = svg('ellipse');
      break;
    case 'text':
      body = svg('text', { 'dominant-baseline': 'central', 'text-anchor': 'middle' });
      break;
    case 'image':
      body = svg('image', { preserveAspectRatio: 'xMidYMid meet' });
      g.dataset.image = 'loading';
      body.addEventListener('load', () => (g.dataset.image = 'loaded'));
      body.addEventListener('error', () => (g.dataset.image = 'error'));
      break;
  }
  const hit = svg('rect', { class: 'hit', fill: 'transparent' });
  g.append(body, hit);
  return { g, body, hit, type: s.type };
}

/** The font size of a text shape of height `h` (shared with the in-place editor). */
export function fontSize(h: number): number {
  return Math.max(10, Math.round(h * 0.55));
}

export function updateNode(node: ShapeNode, s: Shape, g: Geometry, transport: CanvasTransport, notify: (m: string) => void): void {
  setAttrs(node.g, { transform: `translate(${g.x} ${g.y})`, 'data-x': Math.round(g.x), 'data-y': Math.round(g.y) });
  setAttrs(node.hit, { width: g.w, height: g.h });
  switch (s.type) {
    case 'rect':
      setAttrs(node.body, { width: g.w, height: g.h, fill: s.fill });
      break;
    case 'ellipse':
      setAttrs(node.body, { cx: g.w / 2, cy: g.h / 2, rx: g.w / 2, ry: g.h / 2, fill: s.fill });
      break;
    case 'text':
      setAttrs(node.body, { x: g.w / 2, y: g.h / 2, fill: s.fill, 'font-size': fontSize(g.h) });
      if (node.body.textContent !== (s.text ?? '')) node.body.textContent = s.text ?? '';
      break;
    case 'image':
      setAttrs(node.body, { width: g.w, height: g.h });
      loadImage(node, s, transport, notify);
      break;
  }
}

function loadImage(node: ShapeNode, s: Shape, transport: CanvasTransport, notify: (m: string) => void): void {
  const key = JSON.stringify(s.image?.ref ?? null);
  if (node.imageKey === key) return;
  node.imageKey = key;
  node.g.dataset.image = 'loading';
  if (!s.image) {
    node.g.dataset.image = 'error';
    return;
  }
  transport.resolveSidecar(s.image).then(
    (url) => {
      if (node.imageKey === key) node.body.setAttribute('href', url);
    },
    (err: unknown) => {
      node.g.dataset.image = 'error';
      notify(`image ${s.id}: ${err instanceof Error ? err.message : String(err)}`);
    },
  );
}
