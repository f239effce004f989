/**
 * The canvas's keyboard shortcuts. Keys typed into a text field (the chat, the inspector, the
 * in-place text editor) never reach them, so typing never triggers a canvas action.
 */
import { inTextField } from './clipboard.js';

export interface KeyActions {
  deleteSelected(): void;
  clearSelection(): void;
  selectAll(): void;
  duplicate(): void;
  undo(): void;
  redo(): void;
  /** Moves the selection by (dx, dy) world units. */
  nudge(dx: number, dy: number): void;
  editSelectedText(): boolean;
  zoomBy(factor: number): void;
  zoomToFit(): void;
  zoomReset(): void;
  /** Space held: dragging pans. */
  setPanKey(down: boolean): void;
}

const ARROWS: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

export function bindKeys(doc: Document, a: KeyActions): void {
  doc.addEventListener('keydown', (e) => {
    if (inTextField(e.target)) return;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const arrow = ARROWS[e.key];
    let handled = true;
    if (key === ' ') {
      a.setPanKey(true);
    } else if (arrow && !mod) {
      const step = e.shiftKey ? 10 : 1;
      a.nudge(arrow[0] * step, arrow[1] * step);
    } else if (mod && key === 'z') {
      if (e.shiftKey) a.redo();
      else a.undo();
    } else if (mod && key === 'y') {
      a.redo();
    } else if (mod && key === 'd') {
      a.duplicate();
    } else if (mod && key === 'a') {
      a.selectAll();
    } else if (mod && (key === '=' || key === '+')) {
      a.zoomBy(1.25);
    } else if (mod && key === '-') {
      a.zoomBy(0.8);
    } else if (mod && key === '0') {
      a.zoomReset();
    } else if (e.shiftKey && (key === '!' || e.code === 'Digit1')) {
      a.zoomToFit();
    } else if (!mod && (e.key === 'Delete' || e.key === 'Backspace')) {
      a.deleteSelected();
    } else if (e.key === 'Escape') {
      a.clearSelection();
    } else if (e.key === 'Enter' && !mod) {
      handled = a.editSelectedText();
    } else {
      handled = false;
    }
    if (handled) e.preventDefault();
  });
  doc.addEventListener('keyup', (e) => {
    if (e.key === ' ') a.setPanKey(false);
  });
  window.addEventListener('blur', () => a.setPanKey(false));
}
