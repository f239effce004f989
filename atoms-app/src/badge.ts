/**
 * The connection badge: green (synced), yellow (connecting or catching up), red (offline,
 * reconnecting), grey-violet (blocked: the browser has no free connection for this page) from the
 * transport's `syncStatus`, with the number of edits not yet saved on the server; the title tells
 * why, the presence socket's state, this tab's role (one SSE connection is shared by all tabs of a
 * canvas) and the last error.
 */
import type { CanvasTransport, ConnectionStatus, StatusContext, SyncStatus } from '@atoms-realtime/ui';
import { h } from './dom.js';

const LABELS: Record<SyncStatus, string> = { synced: 'Live', syncing: 'Syncing…', offline: 'Offline', blocked: 'Blocked' };
const ROLES = { leader: 'holds the connection for this canvas\'s tabs', follower: 'shares another tab\'s connection', solo: 'own connection' };

export class StatusBadge {
  readonly element: HTMLElement;
  private sync: SyncStatus;
  private detail: string | undefined;
  private presence: ConnectionStatus = 'closed';
  private lastError = '';
  private pending = 0;

  constructor(private readonly transport: CanvasTransport) {
    this.element = h('span', { class: 'badge', role: 'status', 'data-testid': 'status' });
    this.sync = transport.syncStatus;
    transport.on('status', (ctx: StatusContext) => {
      this.sync = ctx.syncStatus;
      this.detail = ctx.detail;
      this.render();
    });
    transport.on('pending', ({ count }) => {
      this.pending = count;
      this.render();
    });
    transport.on('tab_role', () => this.render());
    transport.on('presence', (e) => {
      if (e.type !== 'status') return;
      this.presence = e.status;
      this.render();
    });
    transport.on('error', ({ error, willRetry }) => {
      this.lastError = `${error.message}${willRetry ? ' (retrying)' : ''}`;
      this.render();
    });
    this.render();
  }

  private render(): void {
    const reconnecting = this.sync === 'offline' && this.transport.status !== 'closed';
    this.element.dataset.status = this.sync;
    this.element.dataset.pending = String(this.pending);
    const label = reconnecting ? 'Offline · reconnecting' : LABELS[this.sync];
    // Edits in flight for a moment are normal: the count fades in only when they wait (style.css).
    this.element.replaceChildren(label, ...(this.pending > 0 ? [h('span', { class: 'unsaved' }, ` · ${this.pending} unsaved`)] : []));
    const seq = `seq ${this.transport.getSeq()}, version ${this.transport.getVersion()}`;
    this.element.title = [
      `events: ${this.sync} (${seq})`,
      this.detail && `why: ${this.detail}`,
      this.pending > 0 && `${this.pending} edit(s) not yet saved: they are sent when the connection is back`,
      `presence: ${this.presence}`,
      `this tab: ${ROLES[this.transport.tabRole]}`,
      this.lastError && `last error: ${this.lastError}`,
    ]
      .filter(Boolean)
      .join('\n');
  }
}
