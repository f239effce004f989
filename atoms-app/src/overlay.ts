/**
 * What is drawn over the shapes, in board coordinates: peers' selections (dashed, in their
 * colour), this page's selection with resize handles when one shape is selected, and the
 * selection box being dragged. Sizes are divided by the zoom so they look the same at any zoom.
 */
import type { PeerInfo } from '@atoms-realtime/ui';
import { svg } from './dom.js';
import { spanned } from './layout.js';
import { CORNERS, type Geometry, type Shape } from './model.js';
import { peerSelection } from './selection.js';
import type { Point } from './viewport.js';

const HANDLE = 10;

export interface OverlayInput {
  peers: ReadonlyMap<string, PeerInfo>;
  byId: ReadonlyMap<string, Shape>;
  geometryOf: (s: Shape) => Geometry;
  selected: readonly Shape[];
  zoom: number;
  box: { start: Point; current: Point } | null;
}

export function overlayElements({ peers, byId, geometryOf, selected, zoom, box }: OverlayInput): SVGElement[] {
  const out: SVGElement[] = [];
  const pad = 4 / zoom;
  for (const peer of peers.values()) {
    const color = typeof peer.state.color === 'string' ? peer.state.color : '#888';
    for (const id of peerSelection(peer.state)) {
      const s = byId.get(id);
      if (!s) continue;
      const g = geometryOf(s);
      out.push(svg('rect', { class: 'peer-selection', x: g.x - pad, y: g.y - pad, width: g.w + 2 * pad, height: g.h + 2 * pad, stroke: color, 'data-peer': peer.peerId }));
    }
  }
  for (const s of selected) {
    const g = geometryOf(s);
    out.push(svg('rect', { class: 'selection', 'data-id': s.id, x: g.x, y: g.y, width: g.w, height: g.h }));
  }
  const [only] = selected;
  if (only && selected.length === 1) {
    const g = geometryOf(only);
    const hs = HANDLE / zoom;
    for (const c of CORNERS) {
      const x = c.includes('w') ? g.x : g.x + g.w;
      const y = c.includes('n') ? g.y : g.y + g.h;
      out.push(svg('rect', { class: `handle handle-${c}`, 'data-handle': c, x: x - hs / 2, y: y - hs / 2, width: hs, height: hs }));
    }
  }
  if (box) {
    const r = spanned(box.start, box.current);
    out.push(svg('rect', { class: 'marquee', 'data-testid': 'marquee', x: r.x, y: r.y, width: r.w, height: r.h }));
  }
  return out;
}
