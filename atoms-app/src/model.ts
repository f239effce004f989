/**
 * The canvas document: `/shapes/<id>` = {id, type, x, y, w, h, z, fill, text?, image?} in the
 * stream state, read from the materialised state and changed only through RFC 6902 ops.
 * (Shapes carry `type`, not `kind`: `kind: "image"` marks a media value for the sidecar guard.)
 */
import { formatPointer, type JsonObject, type JsonValue, type MediaValue, type PatchOperation } from '@atoms-realtime/ui';
import { COLORS } from './session.js';

export type ShapeType = 'rect' | 'ellipse' | 'text' | 'image';
export const SHAPE_TYPES: readonly ShapeType[] = ['rect', 'ellipse', 'text', 'image'];
export const MIN_SIZE = 16;

export interface Geometry {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Shape extends Geometry {
  id: string;
  type: ShapeType;
  z: number;
  fill: string;
  text?: string;
  image?: MediaValue;
}

/** A resize handle: which corner is dragged. */
export type Corner = 'nw' | 'ne' | 'sw' | 'se';
export const CORNERS: readonly Corner[] = ['nw', 'ne', 'sw', 'se'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** One shape from the state, or null when the value is not a well-formed shape. */
export function shapeFrom(id: string, v: unknown): Shape | null {
  if (!isObject(v) || !SHAPE_TYPES.includes(v.type as ShapeType)) return null;
  if (!num(v.x) || !num(v.y) || !num(v.w) || !num(v.h)) return null;
  const shape: Shape = {
    id,
    type: v.type as ShapeType,
    x: v.x,
    y: v.y,
    w: Math.max(MIN_SIZE, v.w),
    h: Math.max(MIN_SIZE, v.h),
    z: num(v.z) ? v.z : 0,
    fill: typeof v.fill === 'string' ? v.fill : '#cccccc',
  };
  if (typeof v.text === 'string') shape.text = v.text;
  if (isObject(v.image) && isObject(v.image.ref)) shape.image = v.image as unknown as MediaValue;
  return shape;
}

/** All shapes, bottom to top. */
export function shapesOf(state: JsonValue): Shape[] {
  const shapes = isObject(state) ? state.shapes : undefined;
  if (!isObject(shapes)) return [];
  const out: Shape[] = [];
  for (const [id, v] of Object.entries(shapes)) {
    const s = shapeFrom(id, v);
    if (s) out.push(s);
  }
  return out.sort((a, b) => a.z - b.z || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function hasShapesContainer(state: JsonValue): boolean {
  return isObject(state) && isObject(state.shapes);
}

export function newShapeId(): string {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return 's' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function defaultSize(type: ShapeType, extra: Partial<Geometry> = {}): { w: number; h: number } {
  return { w: extra.w ?? (type === 'text' ? 180 : 140), h: extra.h ?? (type === 'text' ? 48 : 100) };
}

/** A new shape at `g` with a fresh id (a random fill from the palette, "Text" for a text). */
export function newShape(type: ShapeType, g: Geometry, z: number, extra: Partial<Shape> = {}): Shape {
  const fill = type === 'text' ? '#222222' : (COLORS[Math.floor(Math.random() * COLORS.length)] ?? '#888888');
  return { id: newShapeId(), type, ...g, z, fill, ...(type === 'text' ? { text: 'Text' } : {}), ...extra };
}

const shapePath = (id: string, field?: string): string => formatPointer(field ? ['shapes', id, field] : ['shapes', id]);

function toJson(shape: Shape): JsonObject {
  const v: JsonObject = { id: shape.id, type: shape.type, x: shape.x, y: shape.y, w: shape.w, h: shape.h, z: shape.z, fill: shape.fill };
  if (shape.text !== undefined) v.text = shape.text;
  if (shape.image !== undefined) v.image = shape.image as unknown as JsonObject;
  return v;
}

/** Adds the shapes (into `/shapes`, which must exist: see Edits.ensureContainer). */
export function createOps(shapes: readonly Shape[]): PatchOperation[] {
  return shapes.map((shape) => ({ op: 'add', path: shapePath(shape.id), value: toJson(shape) }));
}

/** Moves/resizes: replaces only the geometry fields, so a concurrent recolour is kept. */
export function geometryOps(id: string, g: Geometry): PatchOperation[] {
  return (['x', 'y', 'w', 'h'] as const).map((k) => ({ op: 'replace', path: shapePath(id, k), value: Math.round(g[k]) }));
}

export function fieldOps(id: string, field: 'fill' | 'text' | 'z', value: string | number): PatchOperation[] {
  return [{ op: 'replace', path: shapePath(id, field), value }];
}

export function deleteOps(ids: readonly string[]): PatchOperation[] {
  return ids.map((id) => ({ op: 'remove', path: shapePath(id) }));
}

/** A copy of `s` with a fresh id, moved by (dx, dy), at stacking position `z`. */
export function copyOf(s: Shape, dx: number, dy: number, z: number): Shape {
  return { ...s, id: newShapeId(), x: Math.round(s.x + dx), y: Math.round(s.y + dy), z };
}

export function topZ(shapes: readonly Shape[]): number {
  return shapes.reduce((m, s) => Math.max(m, s.z), 0);
}

export function sameGeometry(a: Geometry, b: Geometry): boolean {
  return Math.round(a.x) === Math.round(b.x) && Math.round(a.y) === Math.round(b.y) && Math.round(a.w) === Math.round(b.w) && Math.round(a.h) === Math.round(b.h);
}

/** The geometry after dragging `corner` by (dx, dy); the opposite corner stays put. */
export function resized(g: Geometry, corner: Corner, dx: number, dy: number): Geometry {
  let { x, y, w, h } = g;
  if (corner.includes('w')) {
    const nw = Math.max(MIN_SIZE, w - dx);
    x += w - nw;
    w = nw;
  } else {
    w = Math.max(MIN_SIZE, w + dx);
  }
  if (corner.includes('n')) {
    const nh = Math.max(MIN_SIZE, h - dy);
    y += h - nh;
    h = nh;
  } else {
    h = Math.max(MIN_SIZE, h + dy);
  }
  return { x, y, w, h };
}

export function isGeometry(v: unknown): v is Geometry {
  return isObject(v) && num(v.x) && num(v.y) && num(v.w) && num(v.h);
}
