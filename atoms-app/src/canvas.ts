/**
 * The shared canvas: draws the shapes of the stream state as SVG and turns pointer input into
 * select / drag / resize / delete. A drag is previewed locally and shown live to peers as WS
 * gestures (ephemeral); on release it is committed as one `state.patch` (durable, via SSE to all).
 */
import { type CanvasTransport, CommandError, type JsonObject, type PatchOperation, type PeerInfo } from '@atoms-realtime/ui';
import { h, setAttrs, svg } from './dom.js';
import {
  CORNERS,
  type Corner,
  createOps,
  deleteOps,
  fieldOps,
  type Geometry,
  geometryOps,
  hasShapesContainer,
  isGeometry,
  newShapeId,
  resized,
  sameGeometry,
  type Shape,
  type ShapeType,
  shapesOf,
  topZ,
} from './model.js';
import { COLORS } from './session.js';

/** Gestures carrying a live drag to peers, at most one per this many ms. */
const GESTURE_INTERVAL_MS = 40;
/** A peer's preview is dropped this long after its last gesture (the commit shows by then). */
const REMOTE_PREVIEW_TTL_MS = 1500;
const DRAG_THRESHOLD = 2;
const HANDLE = 10;

export interface CanvasHooks {
  onSelect(shape: Shape | null): void;
  onEditText(shape: Shape): void;
  notify(message: string): void;
}

interface Drag {
  id: string;
  mode: 'move' | Corner;
  pointerId: number;
  startX: number;
  startY: number;
  origin: Geometry;
  current: Geometry;
  moved: boolean;
}

interface Node {
  g: SVGGElement;
  body: SVGElement;
  hit: SVGRectElement;
  type: ShapeType;
  imageKey?: string;
}

interface RemotePreview {
  geometry: Geometry;
  at: number;
}

export class CanvasView {
  readonly element: HTMLElement;
  readonly svg: SVGSVGElement;
  private readonly shapesLayer: SVGGElement;
  private readonly overlay: SVGGElement;
  private readonly nodes = new Map<string, Node>();
  private shapes: Shape[] = [];
  private selectedId: string | null = null;
  private drag: Drag | null = null;
  /** Geometry this page committed, shown until the state catches up (no flicker back). */
  private readonly pending = new Map<string, Geometry>();
  private readonly remote = new Map<string, RemotePreview>();
  private peers: ReadonlyMap<string, PeerInfo> = new Map();
  private lastGesture = 0;
  private gestureTimer: ReturnType<typeof setTimeout> | undefined;
  private renderQueued = false;
  private created = 0;

  constructor(
    private readonly transport: CanvasTransport,
    private readonly hooks: CanvasHooks,
  ) {
    this.svg = svg('svg', { class: 'board', 'data-testid': 'board' });
    this.shapesLayer = svg('g', { class: 'shapes' });
    this.overlay = svg('g', { class: 'overlay' });
    this.svg.append(this.shapesLayer, this.overlay);
    this.element = h('div', { class: 'stage' }, this.svg);

    transport.subscribe(() => this.onState());
    transport.on('presence', (e) => {
      if (e.type === 'peers') {
        this.peers = e.peers;
        this.scheduleRender();
      } else if (e.type === 'gesture') {
        this.onGesture(e.kind, e.data);
      }
    });
    this.svg.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    this.svg.addEventListener('pointermove', (e) => this.onPointerMove(e));
    this.svg.addEventListener('pointerup', (e) => this.onPointerUp(e));
    this.svg.addEventListener('pointercancel', (e) => this.onPointerUp(e));
    this.svg.addEventListener('dblclick', (e) => {
      const shape = this.shapeAt(e.target);
      if (shape?.type === 'text') this.hooks.onEditText(shape);
    });
    setInterval(() => this.expireRemote(), 500);
    this.onState();
  }

  get selected(): Shape | null {
    return this.shapes.find((s) => s.id === this.selectedId) ?? null;
  }

  select(id: string | null): void {
    if (id === this.selectedId) return;
    this.selectedId = id;
    const me = this.transport.presence.getState() ?? {};
    this.transport.presence.setState({ ...me, selected: id });
    this.hooks.onSelect(this.selected);
    this.scheduleRender();
  }

  /** Adds a shape near the middle of the visible board and selects it. */
  async create(type: ShapeType, extra: Partial<Shape> = {}): Promise<void> {
    const w = extra.w ?? (type === 'text' ? 180 : 140);
    const h = extra.h ?? (type === 'text' ? 48 : 100);
    const box = this.svg.getBoundingClientRect();
    const offset = (this.created++ % 8) * 24;
    const shape: Shape = {
      id: newShapeId(),
      type,
      x: Math.round(Math.max(8, box.width / 2 - w / 2 - 84 + offset)),
      y: Math.round(Math.max(8, box.height / 2 - h / 2 - 84 + offset)),
      w,
      h,
      z: topZ(this.shapes) + 1,
      fill: type === 'text' ? '#222222' : (COLORS[Math.floor(Math.random() * COLORS.length)] ?? '#888888'),
      ...(type === 'text' ? { text: 'Text' } : {}),
      ...extra,
    };
    // `/shapes` is created by the first shape with a base version, so two first shapes never
    // overwrite each other's container; on a 409 the state catches up and the add is retried.
    for (let attempt = 0; ; attempt++) {
      const withContainer = !hasShapesContainer(this.transport.getState());
      try {
        const result = await this.transport.command(
          'state.patch',
          { ops: createOps(shape, withContainer) },
          withContainer ? { baseVersion: this.transport.getVersion() } : {},
        );
        await this.transport.waitForSeq(result.seq);
        break;
      } catch (err) {
        if (!(err instanceof CommandError && err.isConflict && attempt < 5)) return this.failed('create', err);
        await this.versionAtLeast(err.currentVersion ?? 0);
      }
    }
    this.select(shape.id);
  }

  deleteSelected(): void {
    const id = this.selectedId;
    if (id === null) return;
    this.select(null);
    void this.patch('delete', deleteOps(id));
  }

  setField(field: 'fill' | 'text', value: string): void {
    const id = this.selectedId;
    if (id !== null) void this.patch(`change ${field}`, fieldOps(id, field, value));
  }

  bringToFront(): void {
    const s = this.selected;
    if (s && s.z < topZ(this.shapes)) void this.patch('reorder', fieldOps(s.id, 'z', topZ(this.shapes) + 1));
  }

  // ------------------------------------------------------------------ state → SVG

  private onState(): void {
    const previous = new Map(this.shapes.map((s) => [s.id, s]));
    this.shapes = shapesOf(this.transport.getState());
    const byId = new Map(this.shapes.map((s) => [s.id, s]));
    for (const [id, g] of this.pending) {
      const s = byId.get(id);
      if (!s || sameGeometry(s, g)) this.pending.delete(id);
    }
    for (const [id, r] of this.remote) {
      // A peer's preview ends when a commit lands: theirs (same geometry) or anyone's (it moved).
      const s = byId.get(id);
      const was = previous.get(id);
      if (!s || sameGeometry(s, r.geometry) || (was && !sameGeometry(s, was))) this.remote.delete(id);
    }
    if (this.selectedId !== null && !byId.has(this.selectedId)) this.select(null);
    else this.hooks.onSelect(this.selected);
    this.scheduleRender();
  }

  private geometryOf(s: Shape): Geometry {
    if (this.drag?.id === s.id) return this.drag.current;
    return this.pending.get(s.id) ?? this.remote.get(s.id)?.geometry ?? s;
  }

  private scheduleRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    queueMicrotask(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  private render(): void {
    const seen = new Set<string>();
    for (const s of this.shapes) {
      seen.add(s.id);
      let node = this.nodes.get(s.id);
      if (!node || node.type !== s.type) {
        node?.g.remove();
        node = this.createNode(s);
        this.nodes.set(s.id, node);
      }
      this.updateNode(node, s, this.geometryOf(s));
      this.shapesLayer.append(node.g); // keeps z order; moving an existing node is cheap
    }
    for (const [id, node] of this.nodes) {
      if (!seen.has(id)) {
        node.g.remove();
        this.nodes.delete(id);
      }
    }
    this.renderOverlay();
  }

  private createNode(s: Shape): Node {
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

  private updateNode(node: Node, s: Shape, g: Geometry): void {
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
        setAttrs(node.body, { x: g.w / 2, y: g.h / 2, fill: s.fill, 'font-size': Math.max(10, Math.round(g.h * 0.55)) });
        if (node.body.textContent !== (s.text ?? '')) node.body.textContent = s.text ?? '';
        break;
      case 'image':
        setAttrs(node.body, { width: g.w, height: g.h });
        this.loadImage(node, s);
        break;
    }
  }

  /** Resolves the image's artifact ref to a URL (cached by the transport) once per ref. */
  private loadImage(node: Node, s: Shape): void {
    const key = JSON.stringify(s.image?.ref ?? null);
    if (node.imageKey === key) return;
    node.imageKey = key;
    node.g.dataset.image = 'loading';
    if (!s.image) {
      node.g.dataset.image = 'error';
      return;
    }
    this.transport.resolveSidecar(s.image).then(
      (url) => {
        if (node.imageKey === key) node.body.setAttribute('href', url);
      },
      (err: unknown) => {
        node.g.dataset.image = 'error';
        this.hooks.notify(`image ${s.id}: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }

  private renderOverlay(): void {
    this.overlay.replaceChildren();
    for (const peer of this.peers.values()) {
      const id = peer.state.selected;
      const s = typeof id === 'string' ? this.shapes.find((x) => x.id === id) : undefined;
      if (!s) continue;
      const g = this.geometryOf(s);
      const color = typeof peer.state.color === 'string' ? peer.state.color : '#888';
      this.overlay.append(
        svg('rect', { class: 'peer-selection', x: g.x - 4, y: g.y - 4, width: g.w + 8, height: g.h + 8, stroke: color, 'data-peer': peer.peerId }),
      );
    }
    const s = this.selected;
    if (!s) return;
    const g = this.geometryOf(s);
    this.overlay.append(svg('rect', { class: 'selection', x: g.x, y: g.y, width: g.w, height: g.h }));
    for (const c of CORNERS) {
      const x = c.includes('w') ? g.x : g.x + g.w;
      const y = c.includes('n') ? g.y : g.y + g.h;
      this.overlay.append(
        svg('rect', { class: `handle handle-${c}`, 'data-handle': c, x: x - HANDLE / 2, y: y - HANDLE / 2, width: HANDLE, height: HANDLE }),
      );
    }
  }

  // ------------------------------------------------------------------ pointer → commands

  private point(e: PointerEvent | MouseEvent): { x: number; y: number } {
    const box = this.svg.getBoundingClientRect();
    return { x: e.clientX - box.left, y: e.clientY - box.top };
  }

  private shapeAt(target: EventTarget | null): Shape | undefined {
    const el = target instanceof Element ? target.closest<SVGGElement>('g.shape') : null;
    const id = el?.dataset.id;
    return id === undefined ? undefined : this.shapes.find((s) => s.id === id);
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    const p = this.point(e);
    const handle = e.target instanceof Element ? e.target.closest<SVGElement>('[data-handle]')?.dataset.handle : undefined;
    const shape = handle !== undefined ? this.selected : this.shapeAt(e.target);
    if (!shape) {
      this.select(null);
      return;
    }
    e.preventDefault();
    this.select(shape.id);
    const origin = { ...this.geometryOf(shape) };
    this.drag = { id: shape.id, mode: (handle as Corner | undefined) ?? 'move', pointerId: e.pointerId, startX: p.x, startY: p.y, origin, current: origin, moved: false };
    this.svg.setPointerCapture(e.pointerId);
  }

  private onPointerMove(e: PointerEvent): void {
    const p = this.point(e);
    this.transport.presence.moveCursor(Math.round(p.x), Math.round(p.y));
    const d = this.drag;
    if (!d || d.pointerId !== e.pointerId) return;
    const dx = p.x - d.startX;
    const dy = p.y - d.startY;
    if (!d.moved && Math.abs(dx) < DRAG_THRESHOLD && Math.abs(dy) < DRAG_THRESHOLD) return;
    d.moved = true;
    d.current = d.mode === 'move' ? { ...d.origin, x: d.origin.x + dx, y: d.origin.y + dy } : resized(d.origin, d.mode, dx, dy);
    this.scheduleRender();
    this.sendPreview();
  }

  /** Shows the drag to peers: at most one gesture per interval, the last position always sent. */
  private sendPreview(): void {
    if (this.gestureTimer !== undefined) return;
    const wait = this.lastGesture + GESTURE_INTERVAL_MS - performance.now();
    if (wait > 0) {
      this.gestureTimer = setTimeout(() => {
        this.gestureTimer = undefined;
        this.sendPreview();
      }, wait);
      return;
    }
    const d = this.drag;
    if (!d) return;
    this.lastGesture = performance.now();
    this.transport.presence.gesture('shape.preview', { id: d.id, ...rounded(d.current) });
  }

  private onPointerUp(e: PointerEvent): void {
    const d = this.drag;
    if (!d || d.pointerId !== e.pointerId) return;
    this.drag = null;
    if (this.svg.hasPointerCapture(e.pointerId)) this.svg.releasePointerCapture(e.pointerId);
    if (!d.moved) return;
    const g = rounded(d.current);
    clearTimeout(this.gestureTimer);
    this.gestureTimer = undefined;
    this.transport.presence.gesture('shape.preview', { id: d.id, ...g }); // peers hold it until the commit lands
    this.pending.set(d.id, g);
    this.scheduleRender();
    void this.patch(d.mode === 'move' ? 'move' : 'resize', geometryOps(d.id, g)).finally(() => {
      if (this.pending.get(d.id) === g) this.pending.delete(d.id);
      this.scheduleRender();
    });
  }

  private onGesture(kind: string, data: JsonObject): void {
    if (kind !== 'shape.preview' || typeof data.id !== 'string' || !isGeometry(data)) return;
    this.remote.set(data.id, { geometry: { x: data.x, y: data.y, w: data.w, h: data.h }, at: performance.now() });
    this.scheduleRender();
  }

  private expireRemote(): void {
    const now = performance.now();
    let changed = false;
    for (const [id, r] of this.remote) {
      if (now - r.at > REMOTE_PREVIEW_TTL_MS) {
        this.remote.delete(id);
        changed = true;
      }
    }
    if (changed) this.scheduleRender();
  }

  // ------------------------------------------------------------------ helpers

  /** Sends one state.patch and waits until its event was applied here. */
  private async patch(what: string, ops: PatchOperation[]): Promise<void> {
    try {
      const result = await this.transport.command('state.patch', { ops });
      await this.transport.waitForSeq(result.seq);
    } catch (err) {
      this.failed(what, err);
    }
  }

  private failed(what: string, err: unknown): void {
    const gone = err instanceof CommandError && err.code === 'patch_failed';
    this.hooks.notify(gone ? `could not ${what}: the shape was changed or deleted by someone else` : `could not ${what}: ${err instanceof Error ? err.message : String(err)}`);
  }

  private versionAtLeast(version: number): Promise<void> {
    if (this.transport.getVersion() >= version) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        off();
        clearTimeout(timer);
        resolve();
      };
      const off = this.transport.subscribe(({ version: v }) => v >= version && done());
      const timer = setTimeout(done, 2000);
    });
  }
}

function rounded(g: Geometry): Geometry {
  return { x: Math.round(g.x), y: Math.round(g.y), w: Math.round(g.w), h: Math.round(g.h) };
}
