/**
 * The connection badge: green (synced), yellow (connecting or catching up), red (offline,
 * reconnecting) from the transport's SSE `syncStatus`; the title tells the presence socket's state
 * and the last error.
 */
import type { CanvasTransport, ConnectionStatus, SyncStatus } from '@atoms-realtime/ui';
import { h } from './dom.js';

const LABELS: Record<SyncStatus, string> = { synced: 'Live', syncing: 'Syncing…', offline: 'Offline' };

export class StatusBadge {
  readonly element: HTMLElement;
  private sync: SyncStatus;
  private presence: ConnectionStatus = 'closed';
  private lastError = '';

  constructor(private readonly transport: CanvasTransport) {
    this.element = h('span', { class: 'badge', role: 'status', 'data-testid': 'status' });
    this.sync = transport.syncStatus;
    transport.on('status', ({ syncStatus }) => {
      this.sync = syncStatus;
      this.render();
    });
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
    this.element.textContent = reconnecting ? 'Offline · reconnecting' : LABELS[this.sync];
    const seq = `seq ${this.transport.getSeq()}, version ${this.transport.getVersion()}`;
    this.element.title = [`events: ${this.sync} (${seq})`, `presence: ${this.presence}`, this.lastError && `last error: ${this.lastError}`]
      .filter(Boolean)
      .join('\n');
  }
}
