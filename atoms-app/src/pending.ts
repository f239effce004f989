/**
 * Edits this page made that the server has not acknowledged yet (offline, or in flight): the
 * canvas shows the state with them applied, and marks the shapes they touch as pending until the
 * server's events arrive. Computed only while there are pending commands.
 */
import { applyStatePatch, type CanvasTransport, type JsonValue, parsePointer } from '@atoms-realtime/ui';

export interface PendingView {
  state: JsonValue;
  /** Ids of shapes changed by a pending command. */
  ids: ReadonlySet<string>;
}

export function pendingView(transport: CanvasTransport): PendingView {
  let state = transport.getState();
  const commands = transport.pendingCommands;
  if (commands.length === 0) return { state, ids: new Set() };
  const ids = new Set<string>();
  for (const c of commands) {
    if (c.type !== 'state.patch') continue;
    try {
      state = applyStatePatch(state, c.payload.ops);
    } catch {
      continue; // would fail on the server too (someone changed the shape): shown as it is
    }
    for (const op of c.payload.ops) {
      const [root, id] = parsePointer(op.path);
      if (root === 'shapes' && id !== undefined) ids.add(id);
    }
  }
  return { state, ids };
}
