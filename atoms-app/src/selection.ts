/**
 * Which shapes this person has selected: an ordered set of ids, told to peers through presence
 * (`selection`: the ids, at most PRESENCE_MAX; `selected`: the first, for older pages).
 */
import type { CanvasTransport } from '@atoms-realtime/ui';

const PRESENCE_MAX = 50;

export class Selection {
  private ids: string[] = [];

  constructor(
    private readonly transport: CanvasTransport,
    private readonly changed: () => void,
  ) {}

  get list(): readonly string[] {
    return this.ids;
  }

  get size(): number {
    return this.ids.length;
  }

  has(id: string): boolean {
    return this.ids.includes(id);
  }

  set(ids: readonly string[]): void {
    const next = [...new Set(ids)];
    if (next.length === this.ids.length && next.every((id, i) => id === this.ids[i])) return;
    this.ids = next;
    const me = this.transport.presence.getState() ?? {};
    this.transport.presence.setState({ ...me, selected: next[0] ?? null, selection: next.slice(0, PRESENCE_MAX) });
    this.changed();
  }

  toggle(id: string): void {
    this.set(this.has(id) ? this.ids.filter((x) => x !== id) : [...this.ids, id]);
  }

  /** Drops ids that are no longer in the state (deleted by anyone). */
  keepOnly(exists: (id: string) => boolean): void {
    if (this.ids.some((id) => !exists(id))) this.set(this.ids.filter(exists));
  }
}

/** The shape ids a peer has selected, from its presence state (either field). */
export function peerSelection(state: Record<string, unknown>): string[] {
  const many = state.selection;
  if (Array.isArray(many)) return many.filter((x): x is string => typeof x === 'string').slice(0, PRESENCE_MAX);
  return typeof state.selected === 'string' ? [state.selected] : [];
}
