/** Toolbar icons as inline SVG (no icon font or emoji font needed). */
import { svg } from './dom.js';

const PATHS = {
  rect: 'M4 6h16v12H4z',
  ellipse: 'M12 6c4.4 0 8 2.7 8 6s-3.6 6-8 6-8-2.7-8-6 3.6-6 8-6z',
  text: 'M5 6h14M12 6v13M9 19h6',
  image: 'M4 5h16v14H4zM4 16l5-5 4 4 3-3 4 4M15.5 9.5h.01',
  // Z order: a stack of layers with an arrow (up to the top / down to the bottom), unlike
  // "duplicate" (two offset sheets).
  front: 'M12 3l8 4-8 4-8-4zM4 13l8 4 8-4M12 21v-6M9.5 17.5L12 15l2.5 2.5',
  back: 'M4 11l8 4 8-4M4 15l8 4 8-4M12 3v8M9.5 8.5L12 11l2.5-2.5',
  duplicate: 'M9 9h11v11H9zM5 15H4V4h11v1',
  delete: 'M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13M10 11v6M14 11v6',
  undo: 'M9 14L4 9l5-5M4 9h10a6 6 0 0 1 0 12h-3',
  redo: 'M15 14l5-5-5-5M20 9H10a6 6 0 0 0 0 12h3',
  'zoom-in': 'M10.5 4a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zM20 20l-4.9-4.9M8 10.5h5M10.5 8v5',
  'zoom-out': 'M10.5 4a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zM20 20l-4.9-4.9M8 10.5h5',
  fit: 'M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5M9 9h6v6H9z',
  snapshot: 'M4 8h4l2-3h4l2 3h4v11H4zM12 10.5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 0 0 0-7z',
} as const;

export type IconName = keyof typeof PATHS;

export function icon(name: IconName): SVGSVGElement {
  const el = svg('svg', { viewBox: '0 0 24 24', width: 20, height: 20, 'aria-hidden': 'true', class: 'icon', 'data-icon': name });
  el.append(svg('path', { d: PATHS[name] }));
  return el;
}
