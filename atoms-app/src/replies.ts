/**
 * Which chat replies are still streaming, and which were interrupted. A reply is **interrupted**
 * when its message carries `interrupted: true` (set by the agent when it gives up), or when this
 * page saw it streaming (a `token_patch` without `final`) and then the streaming principal's
 * presence left the canvas, or no chunk arrived for STALL_MS. A later chunk clears the mark. A
 * page opened after the stream stopped knows only the `interrupted` field (the state keeps no
 * trace of a missing `final`).
 */
import type { CanvasTransport, PeerInfo } from '@atoms-realtime/ui';

export const STALL_MS = 15_000;

interface Stream {
  actor: string;
  last: number;
  /** The actor was on the canvas (WS presence) while streaming: its leaving ends the stream. */
  present: boolean;
}

export class ReplyWatch {
  private readonly streams = new Map<number, Stream>();
  private readonly stalled = new Set<number>();
  private peers: ReadonlyMap<string, PeerInfo> = new Map();

  constructor(
    transport: CanvasTransport,
    private readonly changed: () => void,
  ) {
    transport.on('token_patch', ({ target, final, envelope }) => {
      const m = /^\/chat\/(\d+)\/text$/.exec(target);
      if (!m) return;
      const i = Number(m[1]);
      this.stalled.delete(i);
      if (final) this.streams.delete(i);
      else this.streams.set(i, { actor: envelope.actor, last: performance.now(), present: this.isPresent(envelope.actor) });
      this.changed();
    });
    transport.on('state_snapshot', () => {
      // A fresh state (resync): indexes may point elsewhere now.
      this.streams.clear();
      this.stalled.clear();
      this.changed();
    });
    transport.on('presence', (e) => {
      if (e.type !== 'peers') return;
      this.peers = e.peers;
      this.check();
    });
    setInterval(() => this.check(), 1000);
  }

  isStreaming(index: number): boolean {
    return this.streams.has(index);
  }

  isStalled(index: number): boolean {
    return this.stalled.has(index);
  }

  private isPresent(principal: string): boolean {
    for (const p of this.peers.values()) if (p.principalId === principal) return true;
    return false;
  }

  private check(): void {
    const now = performance.now();
    let changed = false;
    for (const [i, s] of this.streams) {
      if (!s.present) s.present = this.isPresent(s.actor);
      else if (!this.isPresent(s.actor)) s.last = -Infinity;
      if (now - s.last < STALL_MS) continue;
      this.streams.delete(i);
      this.stalled.add(i);
      changed = true;
    }
    if (changed) this.changed();
  }
}
