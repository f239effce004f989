/**
 * Copy / cut / paste of shapes through the system clipboard (the page's `copy`, `cut` and
 * `paste` events, so Ctrl+C / Ctrl+V and the browser's Edit menu work, across tabs too) as JSON
 * text tagged with a marker; pasted text is parsed back through `shapeFrom`, so only well-formed
 * shapes (at most MAX_PASTE) ever reach a command.
 */
import { type Shape, shapeFrom } from './model.js';

const MARKER = 'atoms-canvas/shapes@1';
export const MAX_PASTE = 200;

export interface ClipboardActions {
  /** The shapes to copy (the selection), or none. */
  selected(): Shape[];
  /** Removes the selection (after a cut). */
  remove(): void;
  paste(shapes: Shape[]): void;
}

export function serialize(shapes: readonly Shape[]): string {
  return JSON.stringify({ [MARKER]: shapes.slice(0, MAX_PASTE) });
}

/** The shapes in clipboard text, or null when it is not ours (then the paste is left alone). */
export function parse(text: string): Shape[] | null {
  if (!text.includes(MARKER)) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const list = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[MARKER] : undefined;
  if (!Array.isArray(list)) return null;
  return list.slice(0, MAX_PASTE).flatMap((v: unknown) => {
    const s = shapeFrom(typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string' ? (v as { id: string }).id : 'x', v);
    return s ? [s] : [];
  });
}

/** True when the key event belongs to a text field (its own copy / paste / undo apply). */
export function inTextField(target: EventTarget | null): boolean {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || (target instanceof HTMLElement && target.isContentEditable);
}

export function bindClipboard(doc: Document, actions: ClipboardActions): void {
  const copy = (e: ClipboardEvent, cut: boolean): void => {
    if (inTextField(e.target) || !e.clipboardData) return;
    const shapes = actions.selected();
    if (shapes.length === 0) return;
    e.preventDefault();
    e.clipboardData.setData('text/plain', serialize(shapes));
    if (cut) actions.remove();
  };
  doc.addEventListener('copy', (e) => copy(e, false));
  doc.addEventListener('cut', (e) => copy(e, true));
  doc.addEventListener('paste', (e) => {
    if (inTextField(e.target)) return;
    const shapes = parse(e.clipboardData?.getData('text/plain') ?? '');
    if (!shapes || shapes.length === 0) return;
    e.preventDefault();
    actions.paste(shapes);
  });
}
