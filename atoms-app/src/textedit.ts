/**
 * Editing a text shape in place: an input laid over the shape (same box and font size on screen).
 * Enter or leaving the field commits, Escape cancels; the keys typed stay in the field.
 */
import { h } from './dom.js';

export interface EditTarget {
  id: string;
  text: string;
  /** The shape's box on screen, relative to the stage, and its font size there. */
  box: { x: number; y: number; w: number; h: number };
  fontPx: number;
  color: string;
}

export class TextEditor {
  private input: HTMLInputElement | null = null;
  private editing: string | null = null;

  constructor(
    private readonly stage: HTMLElement,
    private readonly commit: (id: string, text: string) => void,
  ) {}

  get shapeId(): string | null {
    return this.editing;
  }

  open(t: EditTarget): void {
    this.close(true);
    const input = h('input', { type: 'text', class: 'text-editor', maxlength: 200, 'data-testid': 'text-editor', 'aria-label': 'Edit text' });
    input.value = t.text;
    this.place(input, t);
    this.input = input;
    this.editing = t.id;
    input.addEventListener('keydown', (e) => {
      e.stopPropagation();
      if (e.key === 'Enter') this.close(true);
      else if (e.key === 'Escape') this.close(false);
    });
    input.addEventListener('blur', () => this.close(true));
    this.stage.append(input);
    input.focus();
    input.select();
  }

  /** Follows the shape when the view or the shape moves while editing. */
  move(t: EditTarget): void {
    if (this.input && this.editing === t.id) this.place(this.input, t);
  }

  close(save: boolean): void {
    const input = this.input;
    const id = this.editing;
    if (!input || id === null) return;
    this.input = null;
    this.editing = null;
    const text = input.value;
    input.remove();
    if (save) this.commit(id, text);
  }

  private place(input: HTMLInputElement, t: EditTarget): void {
    Object.assign(input.style, {
      left: `${t.box.x}px`,
      top: `${t.box.y}px`,
      width: `${Math.max(40, t.box.w)}px`,
      height: `${t.box.h}px`,
      fontSize: `${t.fontPx}px`,
      color: t.color,
    });
  }
}
