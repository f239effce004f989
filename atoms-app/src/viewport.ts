/**
 * The board's camera: pan offset and zoom, local to this page (never shared). Shapes live in
 * world coordinates; the camera maps them to the screen, so a shape dragged far away is only a
 * "zoom to fit" away. Input: wheel pans, Ctrl/⌘+wheel (a trackpad pinch) zooms at the pointer,
 * two-finger touch pinches, space+drag or middle-button drag pans.
 */
import type { Geometry } from './model.js';

export const MIN_ZOOM = 0.1;
export const MAX_ZOOM = 8;
/** Empty space kept around the shapes by "zoom to fit", in screen pixels. */
const FIT_MARGIN = 48;

export interface Point {
  x: number;
  y: number;
}

export class Viewport {
  /** Screen position of the world origin, and the zoom factor. */
  x = 0;
  y = 0;
  k = 1;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly size: () => { width: number; height: number }) {}

  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  toWorld(p: Point): Point {
    return { x: (p.x - this.x) / this.k, y: (p.y - this.y) / this.k };
  }

  toScreen(p: Point): Point {
    return { x: p.x * this.k + this.x, y: p.y * this.k + this.y };
  }

  /** The part of the world that is on screen. */
  visible(): Geometry {
    const { width, height } = this.size();
    const tl = this.toWorld({ x: 0, y: 0 });
    return { x: tl.x, y: tl.y, w: width / this.k, h: height / this.k };
  }

  panBy(dx: number, dy: number): void {
    this.set(this.x + dx, this.y + dy, this.k);
  }

  /** Zooms by `factor` keeping the world point under screen point `at` in place. */
  zoomAt(at: Point, factor: number): void {
    const k = clamp(this.k * factor, MIN_ZOOM, MAX_ZOOM);
    const w = this.toWorld(at);
    this.set(at.x - w.x * k, at.y - w.y * k, k);
  }

  /** Zooms around the middle of the board. */
  zoomBy(factor: number): void {
    const { width, height } = this.size();
    this.zoomAt({ x: width / 2, y: height / 2 }, factor);
  }

  /** Shows all of `bounds` (never zooming in past 100 %); the origin at 100 % when empty. */
  fit(bounds: Geometry | null): void {
    if (!bounds) return this.set(0, 0, 1);
    const { width, height } = this.size();
    const k = clamp(Math.min((width - 2 * FIT_MARGIN) / bounds.w, (height - 2 * FIT_MARGIN) / bounds.h, 1), MIN_ZOOM, MAX_ZOOM);
    this.set(width / 2 - (bounds.x + bounds.w / 2) * k, height / 2 - (bounds.y + bounds.h / 2) * k, k);
  }

  /** The SVG transform of the world layer. */
  transform(): string {
    return `translate(${round2(this.x)} ${round2(this.y)}) scale(${round4(this.k)})`;
  }

  private set(x: number, y: number, k: number): void {
    if (x === this.x && y === this.y && k === this.k) return;
    this.x = x;
    this.y = y;
    this.k = k;
    for (const l of this.listeners) l();
  }
}

/**
 * Wires wheel and two-finger pinch on `el` to the viewport (other pointer drags are the canvas's);
 * returns whether a pinch is under way, so the canvas leaves that gesture alone.
 */
export function bindViewportInput(el: SVGSVGElement, view: Viewport, local: (e: MouseEvent) => Point): () => boolean {
  el.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
      if (e.ctrlKey || e.metaKey) view.zoomAt(local(e), Math.exp((-e.deltaY * unit) / 300));
      else if (e.shiftKey) view.panBy(-(e.deltaX || e.deltaY) * unit, 0);
      else view.panBy(-e.deltaX * unit, -e.deltaY * unit);
    },
    { passive: false },
  );
  const touches = new Map<number, Point>();
  let last: { mid: Point; dist: number } | null = null;
  const pinch = (): { mid: Point; dist: number } | null => {
    const [a, b] = [...touches.values()];
    if (!a || !b) return null;
    return { mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 }, dist: Math.hypot(a.x - b.x, a.y - b.y) || 1 };
  };
  el.addEventListener('pointerdown', (e) => {
    if (e.pointerType !== 'touch') return;
    touches.set(e.pointerId, local(e));
    last = pinch();
  });
  el.addEventListener('pointermove', (e) => {
    if (!touches.has(e.pointerId)) return;
    touches.set(e.pointerId, local(e));
    const now = pinch();
    if (!now || !last) return;
    view.panBy(now.mid.x - last.mid.x, now.mid.y - last.mid.y);
    view.zoomAt(now.mid, now.dist / last.dist);
    last = now;
  });
  const up = (e: PointerEvent): void => {
    touches.delete(e.pointerId);
    last = pinch();
  };
  el.addEventListener('pointerup', up);
  el.addEventListener('pointercancel', up);
  return () => touches.size >= 2;
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

const round2 = (v: number): number => Math.round(v * 100) / 100;
const round4 = (v: number): number => Math.round(v * 10000) / 10000;
