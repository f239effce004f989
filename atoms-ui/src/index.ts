/**
 * The public API of @atoms-realtime/ui: every runtime name here is pinned by test/exports.test.ts.
 * Internals (the SSE parser, the backoff, the emitter, header parsing) are imported from their
 * modules inside the package and are not part of it.
 */
export { CanvasTransport, isStreamId } from './transport.js';
export { STREAM_ID_RE } from './generated/contracts.js';
export type {
  CanvasTransportOptions,
  HistoryChange,
  PendingChange,
  PendingCommand,
  PresenceChange,
  PresenceTuning,
  StateChange,
  StateChangeCause,
  StatusContext,
  TabRole,
  TransportErrorContext,
  TransportErrorKind,
  TransportEventMap,
  UndoDirection,
  UndoOutcome,
  UndoSkipped,
} from './events.js';
export type { BroadcastChannelCtor, BroadcastChannelLike, LockManagerLike } from './tabs.js';
export type { NetworkEvents } from './stream.js';
export { PresenceClient } from './presence.js';
export type { Cursor, FrameScheduler, PeerInfo, PeersChange, PresenceClientOptions, PresenceEventMap } from './presence.js';
export { CommandClient } from './commands.js';
export type { BatchItem, CommandClientOptions, CommandOptions } from './commands.js';
export { TicketClient } from './tickets.js';
export type { Ticket, TicketClientOptions } from './tickets.js';
export { SidecarResolver, isMediaValue } from './sidecars.js';
export type { SidecarResolverOptions } from './sidecars.js';
export type { BackoffOptions } from './backoff.js';
export {
  applyEnvelope,
  applyEnvelopes,
  applyStatePatch,
  applyTokenPatch,
  formatPointer,
  getAtPointer,
  parsePointer,
} from './patch.js';
export type { Listener, Unsubscribe } from './emitter.js';
export {
  AtomsHttpError,
  CommandError,
  PatchApplyError,
  SidecarError,
} from './errors.js';
export {
  CLIENT_ERROR_CODES,
  CLOSE_CODES,
  ERROR_CODES,
  RESYNC_REASONS,
  WS_ERROR_CODES,
  isErrorCode,
  isRetryableStatus,
  isSidecarCode,
  reconnectsAfter,
} from './codes.js';
export type { ClientErrorCode, CloseCode, ErrorCode, ResyncReason, WsErrorCode } from './codes.js';
export { uuid } from './ids.js';
export type * from './types.js';
