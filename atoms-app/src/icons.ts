/** Toolbar icons as inline SVG (no icon font or emoji font needed). */
import { svg } from './dom.js';

const PATHS: Record<string, string> = {
  rect: 'M4 6h16v12H4z',
  ellipse: 'M12 6c4.4 0 8 2.7 8 6s-3.6 6-8 6-8-2.7-8-6 3.6-6 8-6z',
  text: 'M5 6h14M12 6v13M9 19h6',
  image: 'M4 5h16v14H4zM4 16l5-5 4 4 3-3 4 4M15.5 9.5h.01',
  front: 'M8 8h12v12H8zM4 16V4h12',
  delete: 'M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13M10 11v6M14 11v6',
  snapshot: 'M4 8h4l2-3h4l2 3h4v11H4zM12 10.5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 0 0 0-7z',
};

export function icon(name: keyof typeof PATHS): SVGSVGElement {
  const el = svg('svg', { viewBox: '0 0 24 24', width: 20, height: 20, 'aria-hidden': 'true', class: 'icon' });
  el.append(svg('path', { d: PATHS[name] ?? '' }));
  return el;
}
