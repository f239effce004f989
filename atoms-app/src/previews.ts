/**
 * Live drags, both ways, over the WebSocket (ephemeral): this page's drag is sent as gestures at
 * most one per GESTURE_INTERVAL_MS (the last position always sent); a peer's drag is shown until
 * its commit lands or for REMOTE_PREVIEW_TTL_MS after its last gesture.
 */
import type { CanvasTransport, JsonObject } from '@atoms-realtime/ui';
import { type Geometry, isGeometry, sameGeometry, type Shape } from './model.js';

const GESTURE_INTERVAL_MS = 40;
const REMOTE_PREVIEW_TTL_MS = 1500;
/** A multi-shape drag shows at most this many shapes live to peers (the commit shows them all). */
const MAX_LIVE = 50;

export type Moves = ReadonlyMap<string, Geometry>;

export class Previews {
  private readonly remote = new Map<string, { geometry: Geometry; at: number }>();
  private lastSent = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private latest: Moves = new Map();

  constructor(
    private readonly transport: CanvasTransport,
    private readonly changed: () => void,
  ) {
    transport.on('presence', (e) => e.type === 'gesture' && this.onGesture(e.kind, e.data));
    setInterval(() => this.expire(), 500);
  }

  remoteOf(id: string): Geometry | undefined {
    return this.remote.get(id)?.geometry;
  }

  /** Shows this page's drag to peers (throttled). */
  send(moves: Moves): void {
    this.latest = moves;
    if (this.timer !== undefined) return;
    const wait = this.lastSent + GESTURE_INTERVAL_MS - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.send(this.latest);
      }, wait);
      return;
    }
    this.lastSent = performance.now();
    this.emit(moves);
  }

  /** The final position, sent at once: peers hold it until the commit lands. */
  finish(moves: Moves): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.emit(moves);
  }

  /** A peer's preview ends when a commit lands: theirs (same geometry) or anyone's (it moved). */
  onState(previous: ReadonlyMap<string, Shape>, now: ReadonlyMap<string, Shape>): void {
    for (const [id, r] of this.remote) {
      const s = now.get(id);
      const was = previous.get(id);
      if (!s || sameGeometry(s, r.geometry) || (was && !sameGeometry(s, was))) this.remote.delete(id);
    }
  }

  private emit(moves: Moves): void {
    const items = [...moves].slice(0, MAX_LIVE).map(([id, g]) => ({ id, ...rounded(g) }));
    const [first] = items;
    if (items.length === 1 && first) this.transport.presence.gesture('shape.preview', first);
    else if (items.length > 1) this.transport.presence.gesture('shapes.preview', { shapes: items });
  }

  private onGesture(kind: string, data: JsonObject): void {
    const items = kind === 'shape.preview' ? [data] : kind === 'shapes.preview' && Array.isArray(data.shapes) ? data.shapes.slice(0, MAX_LIVE) : [];
    const at = performance.now();
    for (const v of items) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof v.id !== 'string' || !isGeometry(v)) continue;
      this.remote.set(v.id, { geometry: { x: v.x, y: v.y, w: v.w, h: v.h }, at });
    }
    if (items.length > 0) this.changed();
  }

  private expire(): void {
    const now = performance.now();
    let changed = false;
    for (const [id, r] of this.remote) {
      if (now - r.at > REMOTE_PREVIEW_TTL_MS) {
        this.remote.delete(id);
        changed = true;
      }
    }
    if (changed) this.changed();
  }
}

export function rounded(g: Geometry): Geometry {
  return { x: Math.round(g.x), y: Math.round(g.y), w: Math.round(g.w), h: Math.round(g.h) };
}
