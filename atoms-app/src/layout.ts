/**
 * Geometry on the board: bounding boxes, hit tests for the selection box, and where a new shape
 * goes (in the visible part of the board, on a free spot, so new shapes never pile up unseen).
 */
import type { Geometry } from './model.js';

/** Gap kept between a new shape and its neighbours when looking for a free spot. */
const GAP = 16;
const RINGS = 6;

export function intersects(a: Geometry, b: Geometry): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** The box around all of `items`, or null when there are none. */
export function bounds(items: readonly Geometry[]): Geometry | null {
  if (items.length === 0) return null;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const g of items) {
    x0 = Math.min(x0, g.x);
    y0 = Math.min(y0, g.y);
    x1 = Math.max(x1, g.x + g.w);
    y1 = Math.max(y1, g.y + g.h);
  }
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

/** The rectangle spanned by two corner points. */
export function spanned(a: { x: number; y: number }, b: { x: number; y: number }): Geometry {
  return { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y) };
}

function contains(outer: Geometry, inner: Geometry): boolean {
  return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w && inner.y + inner.h <= outer.y + outer.h;
}

/**
 * The top-left corner for a `w`×`h` shape: the middle of `view` when that is free, else the
 * nearest free cell of a grid around it that is still inside `view`; when the view is full, the
 * middle shifted a little per shape already there (a visible cascade, never one exact spot).
 */
export function freeSpot(w: number, h: number, view: Geometry, taken: readonly Geometry[]): { x: number; y: number } {
  const cx = view.x + view.w / 2 - w / 2;
  const cy = view.y + view.h / 2 - h / 2;
  const free = (x: number, y: number): boolean => {
    const box = { x: x - GAP / 2, y: y - GAP / 2, w: w + GAP, h: h + GAP };
    return contains(view, { x, y, w, h }) && !taken.some((t) => intersects(box, t));
  };
  for (let ring = 0; ring <= RINGS; ring++) {
    for (let i = -ring; i <= ring; i++) {
      for (let j = -ring; j <= ring; j++) {
        if (Math.max(Math.abs(i), Math.abs(j)) !== ring) continue;
        const x = cx + j * (w + GAP);
        const y = cy + i * (h + GAP);
        if (free(x, y)) return { x: Math.round(x), y: Math.round(y) };
      }
    }
  }
  const n = taken.filter((t) => intersects(t, { x: cx, y: cy, w, h })).length % 8;
  return { x: Math.round(cx + n * 24), y: Math.round(cy + n * 24) };
}
