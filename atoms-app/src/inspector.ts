/** The side panel's shape inspector: what is selected, its fill, and a text shape's text. */
import { h } from './dom.js';
import type { Shape } from './model.js';

export interface Inspector {
  element: HTMLElement;
  show(shapes: readonly Shape[]): void;
}

export function inspector(setField: (field: 'fill' | 'text', value: string) => void): Inspector {
  const fill = h('input', { type: 'color', 'data-testid': 'fill' });
  const text = h('input', { type: 'text', maxlength: 200, 'data-testid': 'text' });
  const fillRow = h('label', {}, 'Fill ', fill);
  const textRow = h('label', {}, 'Text ', text);
  const empty = h('p', { class: 'muted' }, 'Select a shape to edit it.');
  const info = h('p', { class: 'muted', 'data-testid': 'shape-info' });
  const element = h('section', { class: 'inspector' }, h('h2', {}, 'Shape'), empty, info, fillRow, textRow);
  fill.addEventListener('change', () => setField('fill', fill.value));
  text.addEventListener('change', () => setField('text', text.value));
  text.addEventListener('keydown', (e) => e.key === 'Enter' && text.blur());
  const show = (shapes: readonly Shape[]): void => {
    const [s, ...rest] = shapes;
    const one = s !== undefined && rest.length === 0 ? s : null;
    empty.hidden = s !== undefined;
    info.hidden = s === undefined;
    if (one) info.textContent = `${one.type} · ${Math.round(one.w)} × ${Math.round(one.h)}${one.image ? ` · ${one.image.mime}` : ''}`;
    else if (s) info.textContent = `${shapes.length} shapes selected`;
    fillRow.hidden = !shapes.some((x) => x.type !== 'image');
    textRow.hidden = one?.type !== 'text';
    if (s && document.activeElement !== fill) fill.value = /^#[0-9a-f]{6}$/i.test(s.fill) ? s.fill : '#cccccc';
    if (one?.type === 'text' && document.activeElement !== text) text.value = one.text ?? '';
  };
  return { element, show };
}
