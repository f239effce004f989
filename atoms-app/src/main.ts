/**
 * The collaborative canvas page: one CanvasTransport for the canvas named in the URL, and the
 * views built on it (board, cursors and people, chat, status badge, toolbar, inspector).
 */
import { CanvasTransport } from '@atoms-realtime/ui';
import { StatusBadge } from './badge.js';
import { CanvasView } from './canvas.js';
import { ChatView } from './chat.js';
import { $, h } from './dom.js';
import type { Shape, ShapeType } from './model.js';
import { icon } from './icons.js';
import { PeersView } from './peers.js';
import { createSession, type Session } from './session.js';
import { uploadImage } from './upload.js';

/** Images are placed at most this big, keeping their aspect ratio. */
const IMAGE_MAX = 240;

function toaster(root: HTMLElement): (message: string) => void {
  return (message) => {
    const el = h('div', { class: 'toast', role: 'alert' }, message);
    root.append(el);
    setTimeout(() => el.remove(), 5000);
  };
}

function button(label: Node, title: string, onClick: () => void, testid: string): HTMLButtonElement {
  const b = h('button', { type: 'button', title, 'aria-label': title, 'data-testid': testid }, label);
  b.addEventListener('click', onClick);
  return b;
}

function inspector(canvas: () => CanvasView): { element: HTMLElement; show: (s: Shape | null) => void; editText: () => void } {
  const fill = h('input', { type: 'color', 'data-testid': 'fill' });
  const text = h('input', { type: 'text', maxlength: 200, 'data-testid': 'text' });
  const fillRow = h('label', {}, 'Fill ', fill);
  const textRow = h('label', {}, 'Text ', text);
  const empty = h('p', { class: 'muted' }, 'Select a shape to edit it.');
  const info = h('p', { class: 'muted', 'data-testid': 'shape-info' });
  const element = h('section', { class: 'inspector' }, h('h2', {}, 'Shape'), empty, info, fillRow, textRow);
  fill.addEventListener('change', () => canvas().setField('fill', fill.value));
  text.addEventListener('change', () => canvas().setField('text', text.value));
  text.addEventListener('keydown', (e) => e.key === 'Enter' && text.blur());
  const show = (s: Shape | null): void => {
    empty.hidden = s !== null;
    info.hidden = s === null;
    if (s) info.textContent = `${s.type} · ${Math.round(s.w)} × ${Math.round(s.h)}${s.image ? ` · ${s.image.mime}` : ''}`;
    fillRow.hidden = s === null || s.type === 'image';
    textRow.hidden = s?.type !== 'text';
    if (s && document.activeElement !== fill) fill.value = /^#[0-9a-f]{6}$/i.test(s.fill) ? s.fill : '#cccccc';
    if (s?.type === 'text' && document.activeElement !== text) text.value = s.text ?? '';
  };
  return { element, show, editText: () => text.focus() };
}

function mount(root: HTMLElement, session: Session): void {
  const transport = new CanvasTransport({ baseUrl: location.origin, streamId: session.streamId, getToken: session.getToken });
  const toasts = h('div', { class: 'toasts' });
  const toast = toaster(toasts);
  const insp = inspector(() => canvas);
  const canvas: CanvasView = new CanvasView(transport, {
    onSelect: (s) => insp.show(s),
    onEditText: () => insp.editText(),
    notify: toast,
  });
  const peers = new PeersView(transport, { name: session.name, color: session.color });
  canvas.element.append(peers.cursors);
  const chat = new ChatView(transport, toast);
  const badge = new StatusBadge(transport);

  const snapshotInfo = h('span', { class: 'snapshot-info muted', 'data-testid': 'snapshot-info' });
  transport.on('snapshot_created', ({ seq, size }) => {
    snapshotInfo.textContent = `snapshot at seq ${seq}`;
    toast(`Snapshot saved at seq ${seq} (${size} bytes)`);
  });

  const file = h('input', { type: 'file', accept: 'image/*', hidden: true, 'data-testid': 'image-file' });
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    file.value = '';
    if (!f) return;
    uploadImage(f, session.getToken).then(
      (media) => {
        const scale = Math.min(1, IMAGE_MAX / Math.max(media.width ?? IMAGE_MAX, media.height ?? IMAGE_MAX));
        const w = Math.max(16, Math.round((media.width ?? IMAGE_MAX) * scale));
        const hh = Math.max(16, Math.round((media.height ?? IMAGE_MAX) * scale));
        return canvas.create('image', { w, h: hh, image: media, fill: 'transparent' });
      },
      (err: unknown) => toast(`upload failed: ${err instanceof Error ? err.message : String(err)}`),
    );
  });
  const add = (type: ShapeType) => () => void canvas.create(type);
  const toolbar = h(
    'nav',
    { class: 'toolbar' },
    button(icon('rect'), 'Rectangle', add('rect'), 'add-rect'),
    button(icon('ellipse'), 'Ellipse', add('ellipse'), 'add-ellipse'),
    button(icon('text'), 'Text', add('text'), 'add-text'),
    button(icon('image'), 'Image…', () => file.click(), 'add-image'),
    file,
    h('span', { class: 'sep' }),
    button(icon('front'), 'Bring to front', () => canvas.bringToFront(), 'front'),
    button(icon('delete'), 'Delete (Del)', () => canvas.deleteSelected(), 'delete'),
    h('span', { class: 'sep' }),
    button(icon('snapshot'), 'Snapshot', () => {
      transport.command('snapshot.create', {}).catch((err: unknown) => toast(`snapshot failed: ${String(err)}`));
    }, 'snapshot'),
  );

  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement) return;
    if (e.key === 'Delete' || e.key === 'Backspace') canvas.deleteSelected();
    else if (e.key === 'Escape') canvas.select(null);
  });

  const people = h('section', { class: 'presence' }, h('h2', {}, 'People'), peers.list);
  root.replaceChildren(
    h(
      'header',
      { class: 'topbar' },
      h('h1', {}, 'Atoms canvas'),
      h('span', { class: 'canvas-id', 'data-testid': 'canvas-id' }, session.streamId),
      badge.element,
      snapshotInfo,
      h('span', { class: 'grow' }),
      h('span', { class: 'muted' }, `you are ${session.name}`),
    ),
    h('div', { class: 'body' }, toolbar, canvas.element, h('aside', { class: 'side' }, insp.element, people, chat.element)),
    toasts,
  );
  insp.show(null);
  transport.connect();
  Object.assign(window, { atoms: { transport } }); // for the console and the browser tests
}

const root = $('#app');
const session = createSession(location, window.localStorage);
if (session) mount(root, session);
else root.replaceChildren(h('p', { class: 'fatal' }, 'Invalid canvas id in the URL: use letters, digits, ".", "_" or "-".'));
