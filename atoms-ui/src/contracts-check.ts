// Compile-time check that the hand-written wire types (types.ts) agree with the types generated
// from the server's JSON Schemas (generated/contracts.ts, `npm run gen:types`). A schema change the
// transport does not follow fails `tsc`; `npm run check:types` fails when the generated file is stale.
import type * as Generated from './generated/contracts.js';
import type {
  BatchResult,
  CommandEnvelope,
  CommandResult,
  CommandType,
  EventEnvelope,
  TicketResponse,
  WirePeer,
} from './types.js';

type Assert<T extends true> = T;
type Accepts<Wide, Narrow> = [Narrow] extends [Wide] ? true : false;

/** What the server sends must be readable as what the transport expects. */
export type ServerToClient = [
  Assert<Accepts<Pick<EventEnvelope, 'id' | 'seq' | 'stream_id' | 'version' | 'ts' | 'actor' | 'command_id'>,
    Generated.EventEnvelope>>,
  Assert<Accepts<CommandResult, Generated.CommandResult>>,
  Assert<Accepts<BatchResult['results'][number], Generated.BatchResult['results'][number]>>,
  Assert<Accepts<Omit<TicketResponse, 'stream_id' | 'scopes'>, Omit<Generated.TicketResponse, 'stream_id' | 'scopes'>>>,
  Assert<Accepts<Pick<WirePeer, 'peer_id'>, Generated.Peer>>,
];

/** What the transport sends must be valid for the server. */
export type ClientToServer = [
  Assert<Accepts<Generated.CommandEnvelope['type'], CommandType>>,
  Assert<Accepts<Pick<Generated.CommandEnvelope, 'command_id' | 'stream_id'>, Pick<CommandEnvelope, 'command_id' | 'stream_id'>>>,
];
