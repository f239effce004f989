/**
 * The runtime API of @atoms-realtime/ui (src/index.ts): exactly these names. Adding or dropping one
 * is an API change apps notice, so it has to be made here on purpose. Internals (the SSE parser, the
 * backoff, the emitter, Retry-After parsing) are imported from their modules and never exported.
 */
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';
import { ARTIFACT_ID_RE, PRINCIPAL_ID_RE, STREAM_ID_PART_RE, TENANT_ID_RE } from '../src/generated/contracts.js';

const EXPORTED = [
  'AtomsHttpError',
  'CLIENT_ERROR_CODES',
  'CLOSE_CODES',
  'CanvasTransport',
  'CommandClient',
  'CommandError',
  'ERROR_CODES',
  'PatchApplyError',
  'PresenceClient',
  'RESYNC_REASONS',
  'STREAM_ID_RE',
  'SidecarError',
  'SidecarResolver',
  'TicketClient',
  'WS_ERROR_CODES',
  'applyEnvelope',
  'applyEnvelopes',
  'applyStatePatch',
  'applyTokenPatch',
  'formatPointer',
  'getAtPointer',
  'isErrorCode',
  'isMediaValue',
  'isRetryableStatus',
  'isSidecarCode',
  'isStreamId',
  'parsePointer',
  'reconnectsAfter',
  'uuid',
];

describe('index.ts', () => {
  it('exports exactly the public runtime names', () => {
    expect(Object.keys(api).sort()).toEqual([...EXPORTED].sort());
  });

  it('keeps internals out', () => {
    for (const internal of ['SseParser', 'SseBufferOverflowError', 'Backoff', 'backoffDelay', 'DEFAULT_BACKOFF', 'Emitter', 'parseRetryAfter']) {
      expect(api).not.toHaveProperty(internal);
    }
  });
});

// The charsets come from atoms_core.protocol.ids via docs/schemas/Ids.json; these pin what they mean.
describe('generated id charsets', () => {
  it('accept a prefixed stream id and refuse the rest', () => {
    expect(api.isStreamId('canvas:demo.v2_a-b')).toBe(true);
    expect(api.isStreamId(`run:${'a'.repeat(128)}`)).toBe(true);
    for (const bad of ['canvas:', 'doc:x', 'canvas:.x', `run:${'a'.repeat(129)}`, 'canvas:a/b', 'canvas:x\n']) {
      expect(api.isStreamId(bad)).toBe(false);
    }
    expect(STREAM_ID_PART_RE.test('demo')).toBe(true);
    expect(STREAM_ID_PART_RE.test('canvas:demo')).toBe(false);
  });

  it('keep dots out of artifact ids and paths out of tenant ids', () => {
    expect(ARTIFACT_ID_RE.test('a1_b-c')).toBe(true);
    expect(ARTIFACT_ID_RE.test('a.b')).toBe(false);
    expect(TENANT_ID_RE.test('acme.eu-1')).toBe(true);
    expect(TENANT_ID_RE.test('../x')).toBe(false);
  });

  it('allow IdP subjects as principal ids, with inner spaces only', () => {
    for (const ok of ['auth0|5f7c8e', 'user@example.com', 'repo:org/app:ref:main', 'guest:Ada Lovelace']) {
      expect(PRINCIPAL_ID_RE.test(ok)).toBe(true);
    }
    for (const bad of ['alice ', ' alice', '', 'a\u202eb']) expect(PRINCIPAL_ID_RE.test(bad)).toBe(false);
  });
});
