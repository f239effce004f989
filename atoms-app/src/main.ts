/**
 * The collaborative canvas page: one CanvasTransport for the canvas named in the URL, and the
 * views built on it (board, cursors and people, chat, status badge, toolbar, inspector).
 */
import { CanvasTransport } from '@atoms-realtime/ui';
import { StatusBadge } from './badge.js';
import { CanvasView } from './canvas.js';
import { ChatView } from './chat.js';
import { bindClipboard } from './clipboard.js';
import { $, h } from './dom.js';
import { icon } from './icons.js';
import { inspector } from './inspector.js';
import { bindKeys } from './keyboard.js';
import type { ShapeType } from './model.js';
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
  // A toolbar button never keeps the focus: Space / Enter typed later must not press it again.
  b.addEventListener('pointerdown', (e) => e.preventDefault());
  b.addEventListener('click', () => {
    b.blur();
    onClick();
  });
  return b;
}

/** Zoom out / level (click: 100 %) / zoom in / fit, over the board's bottom-right corner. */
function zoomControls(canvas: CanvasView): HTMLElement {
  const level = button(document.createTextNode('100%'), 'Zoom to 100% (Ctrl+0)', () => canvas.viewport.fit(null), 'zoom-level');
  canvas.viewport.onChange(() => (level.textContent = `${Math.round(canvas.viewport.k * 100)}%`));
  return h(
    'div',
    { class: 'zoom' },
    button(icon('zoom-out'), 'Zoom out (Ctrl+-)', () => canvas.viewport.zoomBy(0.8), 'zoom-out'),
    level,
    button(icon('zoom-in'), 'Zoom in (Ctrl+=)', () => canvas.viewport.zoomBy(1.25), 'zoom-in'),
    button(icon('fit'), 'Zoom to fit (Shift+1)', () => canvas.zoomToFit(), 'zoom-fit'),
  );
}

function mount(root: HTMLElement, session: Session): void {
  // One SSE connection per canvas for all of this browser's tabs (the others follow the leader).
  const transport = new CanvasTransport({ baseUrl: location.origin, streamId: session.streamId, getToken: session.getToken, shareAcrossTabs: true });
  const toasts = h('div', { class: 'toasts' });
  const toast = toaster(toasts);
  const insp = inspector((field, value) => canvas.setField(field, value));
  const viewer = session.role === 'viewer';
  const canvas: CanvasView = new CanvasView(transport, { onSelect: (s) => insp.show(s), notify: toast, readOnly: viewer });
  const peers = new PeersView(transport, { name: session.name, color: session.color });
  const project = (): void => peers.setProjection((p) => canvas.viewport.toScreen(p));
  project();
  canvas.viewport.onChange(project);
  canvas.element.append(peers.cursors, zoomControls(canvas));
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
    uploadImage(f, session.streamId, session.getToken).then(
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
  // Undo / redo are the transport's: only this person's own edits, never anyone else's.
  const history = (direction: 'undo' | 'redo') => (): void => {
    canvas.flush();
    (direction === 'undo' ? transport.undo() : transport.redo()).catch((err: unknown) => toast(`${direction} failed: ${err instanceof Error ? err.message : String(err)}`));
  };
  const undoButton = button(icon('undo'), 'Undo (Ctrl+Z)', history('undo'), 'undo');
  const redoButton = button(icon('redo'), 'Redo (Ctrl+Shift+Z)', history('redo'), 'redo');
  const showHistory = ({ canUndo, canRedo }: { canUndo: boolean; canRedo: boolean }): void => {
    undoButton.disabled = viewer || !canUndo;
    redoButton.disabled = viewer || !canRedo;
  };
  showHistory(transport);
  transport.on('history', showHistory);
  transport.on('undo_skipped', ({ direction }) => toast(`Could not ${direction}: someone else changed or deleted that since. Skipped it.`));
  const toolbar = h(
    'nav',
    { class: 'toolbar' },
    button(icon('rect'), 'Rectangle', add('rect'), 'add-rect'),
    button(icon('ellipse'), 'Ellipse', add('ellipse'), 'add-ellipse'),
    button(icon('text'), 'Text (double-click a text to edit it)', add('text'), 'add-text'),
    button(icon('image'), 'Image…', () => file.click(), 'add-image'),
    file,
    h('span', { class: 'sep' }),
    undoButton,
    redoButton,
    h('span', { class: 'sep' }),
    button(icon('front'), 'Bring to front', () => canvas.reorder('front'), 'front'),
    button(icon('back'), 'Send to back', () => canvas.reorder('back'), 'back'),
    button(icon('duplicate'), 'Duplicate (Ctrl+D)', () => canvas.duplicate(), 'duplicate'),
    button(icon('delete'), 'Delete (Del)', () => canvas.deleteSelected(), 'delete'),
    h('span', { class: 'sep' }),
    button(icon('snapshot'), 'Snapshot', () => {
      transport.command('snapshot.create', {}).catch((err: unknown) => toast(`snapshot failed: ${String(err)}`));
    }, 'snapshot'),
  );

  // A viewer's identity may read and show its cursor, not write: every editing tool is off.
  if (viewer) for (const el of [toolbar, insp.element, chat.element]) el.querySelectorAll('button, input').forEach((b) => ((b as HTMLButtonElement | HTMLInputElement).disabled = true));

  bindKeys(document, {
    deleteSelected: () => canvas.deleteSelected(),
    clearSelection: () => canvas.select([]),
    selectAll: () => canvas.selectAll(),
    duplicate: () => canvas.duplicate(),
    undo: history('undo'),
    redo: history('redo'),
    nudge: (dx, dy) => {
      if (!viewer) canvas.nudge(dx, dy);
    },
    editSelectedText: () => canvas.editSelectedText(),
    zoomBy: (f) => canvas.viewport.zoomBy(f),
    zoomToFit: () => canvas.zoomToFit(),
    zoomReset: () => canvas.viewport.fit(null),
    setPanKey: (down) => canvas.setPanKey(down),
  });
  bindClipboard(document, {
    selected: () => canvas.selectedShapes(),
    remove: () => canvas.deleteSelected(),
    paste: (shapes) => canvas.paste(shapes),
  });

  const people = h('section', { class: 'presence' }, h('h2', {}, 'People'), peers.list);
  root.classList.toggle('read-only', viewer);
  root.replaceChildren(
    h(
      'header',
      { class: 'topbar' },
      h('h1', {}, 'Atoms canvas'),
      h('span', { class: 'canvas-id', 'data-testid': 'canvas-id' }, session.streamId),
      badge.element,
      snapshotInfo,
      h('span', { class: 'grow' }),
      viewer ? h('span', { class: 'view-only', 'data-testid': 'view-only', title: 'Your role is viewer: you see edits live but cannot make them' }, 'view only') : '',
      h('span', { class: 'muted' }, `you are ${session.name}`),
    ),
    h('div', { class: 'body' }, toolbar, canvas.element, h('aside', { class: 'side' }, insp.element, people, chat.element)),
    toasts,
  );
  insp.show([]);
  transport.connect();
  Object.assign(window, { atoms: { transport, canvas } }); // for the console and the browser tests
}

const root = $('#app');
const session = createSession(location, window.localStorage);
if (session) mount(root, session);
else root.replaceChildren(h('p', { class: 'fatal' }, 'Invalid canvas id in the URL: use letters, digits, ".", "_" or "-".'));
