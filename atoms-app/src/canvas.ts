/**
 * The shared canvas: draws the shapes of the stream state as SVG through a pan/zoom camera and
 * turns pointer input into select (click, shift-click, selection box) / move / resize / pan. A drag
 * is previewed locally and shown live to peers as WS gestures (ephemeral); on release it is
 * committed as one `state.patch` (durable, via SSE to all), so every action is one undo step.
 */
import type { CanvasTransport, PeerInfo } from '@atoms-realtime/ui';
import { h, svg } from './dom.js';
import { Edits } from './edits.js';
import { bounds, freeSpot, intersects, spanned } from './layout.js';
import {
  copyOf,
  type Corner,
  deleteOps,
  fieldOps,
  type Geometry,
  defaultSize,
  geometryOps,
  newShape,
  resized,
  sameGeometry,
  type Shape,
  type ShapeType,
  shapesOf,
  topZ,
} from './model.js';
import { createNode, fontSize, type ShapeNode, updateNode } from './nodes.js';
import { Previews, rounded } from './previews.js';
import { overlayElements } from './overlay.js';
import { pendingView } from './pending.js';
import { Selection } from './selection.js';
import { TextEditor } from './textedit.js';
import { bindViewportInput, type Point, Viewport } from './viewport.js';

const DRAG_THRESHOLD = 2;
/** Arrow-key nudges within this many ms are one edit (one commit, one undo step). */
const NUDGE_COMMIT_MS = 300;
/** Ctrl+D and paste offset copies by this much, so the copy is visibly a copy. */
const COPY_OFFSET = 24;
/** Two presses on one shape within this long (and DRAG_THRESHOLD·3 px) are a double-click. */
const DOUBLE_PRESS_MS = 450;

export interface CanvasHooks {
  onSelect(shapes: readonly Shape[]): void;
  notify(message: string): void;
  readOnly?: boolean; // a viewer: selects and points, never moves, resizes or types
}

type Drag =
  | { kind: 'move' | Corner; pointerId: number; start: Point; origins: Map<string, Geometry>; moved: boolean }
  | { kind: 'pan'; pointerId: number; last: Point }
  | { kind: 'box'; pointerId: number; start: Point; current: Point; base: readonly string[] };

export class CanvasView {
  readonly element: HTMLElement;
  readonly svg: SVGSVGElement;
  readonly viewport: Viewport;
  private readonly world: SVGGElement;
  private readonly shapesLayer: SVGGElement;
  private readonly overlay: SVGGElement;
  private readonly nodes = new Map<string, ShapeNode>();
  private readonly selection: Selection;
  private readonly previews: Previews;
  private readonly edits: Edits;
  private readonly editor: TextEditor;
  private readonly pinching: () => boolean;
  private shapes: Shape[] = [];
  private byId = new Map<string, Shape>();
  private drag: Drag | null = null;
  /** Geometry being dragged or nudged here, shown instead of the state's. */
  private readonly live = new Map<string, Geometry>();
  /** Geometry this page committed, shown until the state catches up (no flicker back). */
  private readonly pending = new Map<string, Geometry>();
  private peers: ReadonlyMap<string, PeerInfo> = new Map();
  private panKey = false;
  private nudgeTimer: ReturnType<typeof setTimeout> | undefined;
  private pointer: Point | null = null;
  /** The last press on a shape (pointer capture keeps the browser's own dblclick from firing). */
  private lastPress: { id: string; at: number; p: Point } | null = null;
  private renderQueued = false;
  /** Shapes changed by this page's unacknowledged commands (drawn as pending). */
  private pendingIds: ReadonlySet<string> = new Set();
  private overlaySignature = '';

  constructor(
    private readonly transport: CanvasTransport,
    private readonly hooks: CanvasHooks,
  ) {
    this.svg = svg('svg', { class: 'board', 'data-testid': 'board' });
    this.world = svg('g', { class: 'world', 'data-testid': 'world' });
    this.shapesLayer = svg('g', { class: 'shapes' });
    this.overlay = svg('g', { class: 'overlay' });
    this.world.append(this.shapesLayer, this.overlay);
    this.svg.append(this.world);
    this.element = h('div', { class: 'stage' }, this.svg);
    this.viewport = new Viewport(() => this.svg.getBoundingClientRect());
    this.viewport.onChange(() => this.scheduleRender());
    this.selection = new Selection(transport, () => {
      this.hooks.onSelect(this.selectedShapes());
      this.scheduleRender();
    });
    this.previews = new Previews(transport, () => this.scheduleRender());
    this.edits = new Edits(transport, hooks.notify, hooks.readOnly === true);
    this.editor = new TextEditor(this.element, (id, text) => {
      if (this.byId.get(id)?.text !== text) void this.edits.patch('change text', fieldOps(id, 'text', text));
    });
    this.pinching = bindViewportInput(this.svg, this.viewport, (e) => this.local(e));

    transport.subscribe(() => this.onState());
    transport.on('pending', () => this.onState());
    transport.on('presence', (e) => {
      if (e.type !== 'peers') return;
      this.peers = e.peers;
      this.scheduleRender();
    });
    this.svg.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    this.svg.addEventListener('pointermove', (e) => this.onPointerMove(e));
    this.svg.addEventListener('pointerup', (e) => this.onPointerUp(e));
    this.svg.addEventListener('pointercancel', (e) => this.onPointerUp(e));
    this.svg.addEventListener('pointerleave', () => (this.pointer = null));
    this.onState();
  }

  selectedShapes(): Shape[] {
    return this.selection.list.flatMap((id) => this.byId.get(id) ?? []);
  }

  select(ids: readonly string[]): void {
    this.selection.set(ids);
  }

  selectAll(): void {
    this.selection.set(this.shapes.map((s) => s.id));
  }

  /** Adds a shape on a free spot in the visible part of the board and selects it. */
  async create(type: ShapeType, extra: Partial<Shape> = {}): Promise<void> {
    const { w, h } = defaultSize(type, extra);
    const spot = freeSpot(w, h, this.viewport.visible(), this.shapes.map((s) => this.geometryOf(s)));
    const shape = newShape(type, { ...spot, w, h }, topZ(this.shapes) + 1, extra);
    if (await this.edits.add('create', [shape])) this.select([shape.id]);
  }

  deleteSelected(): void {
    const ids = this.selection.list;
    if (ids.length === 0) return;
    this.select([]);
    void this.edits.patch('delete', deleteOps(ids));
  }

  /** Ctrl+D: copies of the selection, a little offset, on top; the copies become the selection. */
  duplicate(): void {
    this.paste(this.selectedShapes(), true);
  }

  /**
   * Adds copies of `shapes` (fresh ids, on top, in their order): offset from the originals when
   * `nearOriginals` or when the originals are on screen; otherwise centred where the pointer is (or
   * the middle of the view), so a paste always lands where the person looks.
   */
  paste(shapes: readonly Shape[], nearOriginals = false): void {
    const box = bounds(shapes);
    if (!box) return;
    let dx = COPY_OFFSET;
    let dy = COPY_OFFSET;
    if (!nearOriginals && !intersects(box, this.viewport.visible())) {
      const view = this.viewport.visible();
      const at = this.pointer ? this.viewport.toWorld(this.pointer) : { x: view.x + view.w / 2, y: view.y + view.h / 2 };
      dx = at.x - (box.x + box.w / 2);
      dy = at.y - (box.y + box.h / 2);
    }
    const z = topZ(this.shapes);
    const copies = [...shapes].sort((a, b) => a.z - b.z).map((s, i) => copyOf(s, dx, dy, z + 1 + i));
    void this.edits.add(nearOriginals ? 'duplicate' : 'paste', copies).then((ok) => ok && this.select(copies.map((c) => c.id)));
  }

  setField(field: 'fill' | 'text', value: string): void {
    const targets = this.selectedShapes().filter((s) => field === 'fill' || s.type === 'text');
    void this.edits.patch(`change ${field}`, targets.flatMap((s) => fieldOps(s.id, field, value)));
  }

  /** Moves the selection above (or below) every other shape, keeping its own stacking order. */
  reorder(where: 'front' | 'back'): void {
    const sel = this.selectedShapes().sort((a, b) => a.z - b.z);
    if (sel.length === 0) return;
    const others = this.shapes.filter((s) => !this.selection.has(s.id));
    const base = where === 'front' ? topZ(this.shapes) + 1 : others.reduce((m, s) => Math.min(m, s.z), 0) - sel.length;
    void this.edits.patch('reorder', sel.flatMap((s, i) => fieldOps(s.id, 'z', base + i)));
  }

  /** Arrow keys: the selection moves at once here; the burst is committed as one edit. */
  nudge(dx: number, dy: number): void {
    const sel = this.selectedShapes();
    if (sel.length === 0 || this.drag) return;
    for (const s of sel) {
      const g = this.geometryOf(s);
      this.live.set(s.id, { ...g, x: g.x + dx, y: g.y + dy });
    }
    this.previews.send(new Map(this.live));
    this.scheduleRender();
    clearTimeout(this.nudgeTimer);
    this.nudgeTimer = setTimeout(() => this.commitLive('move'), NUDGE_COMMIT_MS);
  }

  /** Opens the in-place editor on the selected text shape; false when there is none. */
  editSelectedText(): boolean {
    const [only, ...rest] = this.selectedShapes();
    if (!only || rest.length > 0 || only.type !== 'text') return false;
    this.editText(only);
    return true;
  }

  zoomToFit(): void {
    this.viewport.fit(bounds(this.shapes.map((s) => this.geometryOf(s))));
  }

  /** Commits a burst of nudges still waiting (before an undo, so it undoes what the person sees). */
  flush(): void {
    if (this.live.size > 0 && !this.drag) this.commitLive('move');
  }

  setPanKey(down: boolean): void {
    this.panKey = down;
    this.svg.classList.toggle('panning', down);
  }

  // ------------------------------------------------------------------ state → SVG

  private onState(): void {
    const previous = this.byId;
    const view = pendingView(this.transport);
    this.pendingIds = view.ids;
    this.shapes = shapesOf(view.state);
    this.byId = new Map(this.shapes.map((s) => [s.id, s]));
    for (const [id, g] of this.pending) {
      const s = this.byId.get(id);
      if (!s || sameGeometry(s, g)) this.pending.delete(id);
    }
    for (const id of this.live.keys()) if (!this.byId.has(id)) this.live.delete(id);
    this.previews.onState(previous, this.byId);
    this.selection.keepOnly((id) => this.byId.has(id));
    this.hooks.onSelect(this.selectedShapes());
    this.scheduleRender();
  }

  private geometryOf(s: Shape): Geometry {
    return this.live.get(s.id) ?? this.pending.get(s.id) ?? this.previews.remoteOf(s.id) ?? s;
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
    this.world.setAttribute('transform', this.viewport.transform());
    this.svg.dataset.zoom = String(Math.round(this.viewport.k * 100));
    const seen = new Set<string>();
    for (const s of this.shapes) {
      seen.add(s.id);
      let node = this.nodes.get(s.id);
      if (!node || node.type !== s.type) {
        node?.g.remove();
        node = createNode(s);
        this.nodes.set(s.id, node);
      }
      updateNode(node, s, this.geometryOf(s), this.transport, this.hooks.notify);
      node.g.classList.toggle('selected', this.selection.has(s.id));
      node.g.classList.toggle('pending', this.pendingIds.has(s.id));
      this.shapesLayer.append(node.g); // keeps z order; moving an existing node is cheap
    }
    for (const [id, node] of this.nodes) {
      if (!seen.has(id)) {
        node.g.remove();
        this.nodes.delete(id);
      }
    }
    this.renderOverlay();
    const editing = this.editor.shapeId;
    const s = editing === null ? undefined : this.byId.get(editing);
    if (s) this.editor.move(this.editTarget(s));
    else if (editing !== null) this.editor.close(false);
  }

  private renderOverlay(): void {
    const d = this.drag;
    const next = overlayElements({
      peers: this.peers,
      byId: this.byId,
      geometryOf: (s) => this.geometryOf(s),
      selected: this.selectedShapes(),
      zoom: this.viewport.k,
      box: d?.kind === 'box' ? d : null,
    });
    // Unchanged overlay, same elements: a handle being pressed or hovered is never swapped out.
    const signature = next.map((el) => el.outerHTML).join('');
    if (signature === this.overlaySignature) return;
    this.overlaySignature = signature;
    this.overlay.replaceChildren(...next);
  }

  private editText(s: Shape): void {
    this.select([s.id]);
    this.editor.open(this.editTarget(s));
  }

  private editTarget(s: Shape): Parameters<TextEditor['open']>[0] {
    const g = this.geometryOf(s);
    const tl = this.viewport.toScreen(g);
    const k = this.viewport.k;
    return { id: s.id, text: s.text ?? '', box: { x: tl.x, y: tl.y, w: g.w * k, h: g.h * k }, fontPx: fontSize(g.h) * k, color: s.fill };
  }

  // ------------------------------------------------------------------ pointer → commands

  /** The event's position on the board, in screen pixels. */
  private local(e: MouseEvent): Point {
    const box = this.svg.getBoundingClientRect();
    return { x: e.clientX - box.left, y: e.clientY - box.top };
  }

  private shapeAt(target: EventTarget | null): Shape | undefined {
    const el = target instanceof Element ? target.closest<SVGGElement>('g.shape') : null;
    const id = el?.dataset.id;
    return id === undefined ? undefined : this.byId.get(id);
  }

  private onPointerDown(e: PointerEvent): void {
    if (this.pinching()) {
      this.drag = null;
      return;
    }
    if (this.editor.shapeId !== null) this.editor.close(true);
    const p = this.local(e);
    if (e.button === 1 || (e.button === 0 && this.panKey)) {
      e.preventDefault();
      this.startDrag(e, { kind: 'pan', pointerId: e.pointerId, last: p });
      return;
    }
    if (e.button !== 0) return;
    e.preventDefault();
    (document.activeElement as HTMLElement | null)?.blur?.();
    const w = this.viewport.toWorld(p);
    const handle = e.target instanceof Element ? e.target.closest<SVGElement>('[data-handle]')?.dataset.handle : undefined;
    const shape = handle !== undefined ? this.selectedShapes()[0] : this.shapeAt(e.target);
    if (!shape) {
      const base = e.shiftKey ? this.selection.list : [];
      if (!e.shiftKey) this.select([]);
      this.startDrag(e, { kind: 'box', pointerId: e.pointerId, start: w, current: w, base });
      return;
    }
    const prev = this.lastPress;
    this.lastPress = { id: shape.id, at: e.timeStamp, p };
    const double = prev?.id === shape.id && e.timeStamp - prev.at < DOUBLE_PRESS_MS && Math.hypot(p.x - prev.p.x, p.y - prev.p.y) < DRAG_THRESHOLD * 3;
    if (double && handle === undefined && shape.type === 'text' && !e.shiftKey && this.hooks.readOnly !== true) {
      this.lastPress = null;
      this.editText(shape);
      return;
    }
    if (e.shiftKey && handle === undefined) {
      this.selection.toggle(shape.id);
      if (!this.selection.has(shape.id)) return;
    } else if (!this.selection.has(shape.id)) {
      this.select([shape.id]);
    }
    if (this.hooks.readOnly === true) return;
    const ids = handle !== undefined ? [shape.id] : this.selection.list;
    const origins = new Map(ids.flatMap((id) => {
      const s = this.byId.get(id);
      return s ? [[id, { ...this.geometryOf(s) }] as const] : [];
    }));
    this.startDrag(e, { kind: (handle as Corner | undefined) ?? 'move', pointerId: e.pointerId, start: w, origins, moved: false });
  }

  private startDrag(e: PointerEvent, d: Drag): void {
    clearTimeout(this.nudgeTimer);
    if (this.live.size > 0) this.commitLive('move');
    this.drag = d;
    this.svg.setPointerCapture(e.pointerId);
    this.scheduleRender();
  }

  private onPointerMove(e: PointerEvent): void {
    const p = this.local(e);
    this.pointer = p;
    const w = this.viewport.toWorld(p);
    this.transport.presence.moveCursor(Math.round(w.x), Math.round(w.y));
    const d = this.drag;
    if (!d || d.pointerId !== e.pointerId || this.pinching()) return;
    if (d.kind === 'pan') {
      this.viewport.panBy(p.x - d.last.x, p.y - d.last.y);
      d.last = p;
      return;
    }
    if (d.kind === 'box') {
      d.current = w;
      const r = spanned(d.start, w);
      const hit = this.shapes.filter((s) => intersects(r, this.geometryOf(s))).map((s) => s.id);
      this.select([...d.base, ...hit]);
      this.scheduleRender();
      return;
    }
    const dx = w.x - d.start.x;
    const dy = w.y - d.start.y;
    const k = this.viewport.k;
    if (!d.moved && Math.abs(dx * k) < DRAG_THRESHOLD && Math.abs(dy * k) < DRAG_THRESHOLD) return;
    d.moved = true;
    for (const [id, o] of d.origins) {
      this.live.set(id, d.kind === 'move' ? { ...o, x: o.x + dx, y: o.y + dy } : resized(o, d.kind, dx, dy));
    }
    this.scheduleRender();
    this.previews.send(new Map(this.live));
  }

  private onPointerUp(e: PointerEvent): void {
    const d = this.drag;
    if (!d || d.pointerId !== e.pointerId) return;
    this.drag = null;
    if (this.svg.hasPointerCapture(e.pointerId)) this.svg.releasePointerCapture(e.pointerId);
    if (d.kind === 'move' || (d.kind !== 'pan' && d.kind !== 'box')) {
      if (d.moved) this.commitLive(d.kind === 'move' ? 'move' : 'resize');
      else this.live.clear();
    }
    this.scheduleRender();
  }

  /** Commits the live geometry (a drag or a burst of nudges) as one patch. */
  private commitLive(what: string): void {
    clearTimeout(this.nudgeTimer);
    this.nudgeTimer = undefined;
    const moves = new Map([...this.live].map(([id, g]) => [id, rounded(g)]));
    this.live.clear();
    if (moves.size === 0) return;
    this.previews.finish(moves); // peers hold it until the commit lands
    for (const [id, g] of moves) this.pending.set(id, g);
    this.scheduleRender();
    void this.edits.patch(what, [...moves].flatMap(([id, g]) => geometryOps(id, g))).finally(() => {
      for (const [id, g] of moves) if (this.pending.get(id) === g) this.pending.delete(id);
      this.scheduleRender();
    });
  }
}
