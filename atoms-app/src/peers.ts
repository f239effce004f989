/**
 * Presence: the people on this canvas (list with names and colours; agents, `kind: "agent"` in their
 * presence, with an "agent" badge and their status: idle, thinking, writing) and their live cursors,
 * drawn over the board from the transport's peers map (WebSocket, ephemeral). A cursor is sent in
 * board coordinates and drawn through this page's own pan and zoom.
 */
import type { CanvasTransport, ConnectionStatus, PeerInfo } from '@atoms-realtime/ui';
import { h, svg } from './dom.js';
import { colorOf, displayName } from './session.js';

export interface Me {
  name: string;
  color: string;
}

function nameOf(peer: PeerInfo): string {
  const n = peer.state.name;
  return typeof n === 'string' && n !== '' ? n : displayName(peer.principalId || peer.peerId);
}

function colorOfPeer(peer: PeerInfo): string {
  const c = peer.state.color;
  return typeof c === 'string' && /^#[0-9a-fA-F]{6}$/.test(c) ? c : colorOf(nameOf(peer));
}

const STATUSES = new Set(['idle', 'thinking', 'writing']);

/** An agent says so in its presence (`kind: "agent"`, `status`); it is self-declared, like a name. */
function agentStatus(peer: PeerInfo): string | null {
  if (peer.state.kind !== 'agent') return null;
  const s = peer.state.status;
  return typeof s === 'string' && STATUSES.has(s) ? s : 'idle';
}

/** A row of People: dot and name, and for an agent its badge and what it is doing. */
function personRow(peer: PeerInfo): HTMLElement {
  const row = h('li', { 'data-peer': peer.peerId, title: peer.principalId }, dot(colorOfPeer(peer)), nameOf(peer));
  const status = agentStatus(peer);
  if (status !== null) {
    row.dataset.kind = 'agent';
    row.dataset.status = status;
    row.append(h('span', { class: 'agent-badge', 'data-testid': 'agent-badge' }, 'agent'), h('span', { class: 'agent-status muted' }, status));
  }
  return row;
}

function dot(color: string): HTMLElement {
  return h('span', { class: 'dot', style: `background:${color}` });
}

/** Maps a board (world) position to the screen, relative to the stage. */
export type ToScreen = (p: { x: number; y: number }) => { x: number; y: number };

export class PeersView {
  readonly list: HTMLElement;
  readonly cursors: HTMLElement;
  private readonly cursorEls = new Map<string, HTMLElement>();
  private toScreen: ToScreen = (p) => p;
  private peers: ReadonlyMap<string, PeerInfo> = new Map();
  private wsStatus: ConnectionStatus = 'closed';

  constructor(
    transport: CanvasTransport,
    private readonly me: Me,
  ) {
    this.list = h('ul', { class: 'people', 'data-testid': 'people' });
    this.cursors = h('div', { class: 'cursors', 'data-testid': 'cursors' });
    transport.on('presence', (e) => {
      if (e.type === 'peers') {
        this.peers = e.peers;
        this.renderList();
        this.syncCursors();
      } else if (e.type === 'cursor') {
        this.moveCursor(e.peerId, e.x, e.y);
      } else if (e.type === 'status') {
        this.wsStatus = e.status;
        this.renderList();
      }
    });
    transport.presence.setState({ name: me.name, color: me.color });
    this.renderList();
  }

  /** Cursors arrive in board coordinates; `toScreen` places them for this page's pan and zoom. */
  setProjection(toScreen: ToScreen): void {
    this.toScreen = toScreen;
    for (const [id, el] of this.cursorEls) this.moveCursor(id, Number(el.dataset.x), Number(el.dataset.y));
  }

  private renderList(): void {
    const self = h('li', { class: 'me', 'data-peer': 'self' }, dot(this.me.color), `${this.me.name} (you)`);
    if (this.wsStatus !== 'open') self.append(h('span', { class: 'muted' }, ` · ${this.wsStatus}`));
    // People first, then agents, each by name.
    const others = [...this.peers.values()]
      .sort((a, b) => Number(agentStatus(a) !== null) - Number(agentStatus(b) !== null) || nameOf(a).localeCompare(nameOf(b)))
      .map(personRow);
    this.list.replaceChildren(self, ...others);
  }

  private syncCursors(): void {
    for (const [id, el] of this.cursorEls) {
      const peer = this.peers.get(id);
      if (!peer) {
        el.remove();
        this.cursorEls.delete(id);
      } else {
        this.label(el, peer);
      }
    }
    for (const peer of this.peers.values()) {
      if (peer.cursor && !this.cursorEls.has(peer.peerId)) this.moveCursor(peer.peerId, peer.cursor.x, peer.cursor.y);
    }
  }

  private label(el: HTMLElement, peer: PeerInfo): void {
    const color = colorOfPeer(peer);
    el.style.setProperty('--peer', color);
    const tag = el.querySelector('.name');
    if (tag && tag.textContent !== nameOf(peer)) tag.textContent = nameOf(peer);
  }

  private moveCursor(peerId: string, x: number, y: number): void {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    let el = this.cursorEls.get(peerId);
    if (!el) {
      const arrow = svg('svg', { viewBox: '0 0 16 16', width: 18, height: 18 });
      arrow.append(svg('path', { d: 'M1 1 L1 14 L5 10 L8 15 L10 14 L7 9 L13 9 Z' }));
      el = h('div', { class: 'cursor', 'data-peer': peerId }, arrow, h('span', { class: 'name' }));
      this.cursorEls.set(peerId, el);
      this.cursors.append(el);
    }
    this.label(el, peer);
    const at = this.toScreen({ x, y });
    el.style.transform = `translate(${Math.round(at.x)}px, ${Math.round(at.y)}px)`;
    el.dataset.x = String(x);
    el.dataset.y = String(y);
  }
}
