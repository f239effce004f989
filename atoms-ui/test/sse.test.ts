import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from '../src/sse.js';
import { enc } from './helpers.js';

function parse(chunks: (string | Uint8Array)[], end = true) {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const p = new SseParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms), onComment: (c) => comments.push(c) });
  for (const c of chunks) p.push(typeof c === 'string' ? enc(c) : c);
  if (end) p.end();
  return { events, retries, comments, parser: p };
}

describe('SseParser', () => {
  it('dispatches a simple event with id and type', () => {
    const { events } = parse(['id: 7\nevent: state_patch\ndata: {"a":1}\n\n']);
    expect(events).toEqual([{ type: 'state_patch', data: '{"a":1}', lastEventId: '7', id: '7' }]);
  });

  it('joins multiple data lines with \\n and defaults the type to message', () => {
    const { events } = parse(['data: one\ndata: two\ndata:\ndata: four\n\n']);
    expect(events).toHaveLength(1);
    expect(events[0]!.type).toBe('message');
    expect(events[0]!.data).toBe('one\ntwo\n\nfour');
  });

  it('reports comments (heartbeats) without dispatching', () => {
    const { events, comments } = parse([': ping\n\n:\n\ndata: x\n\n']);
    expect(comments).toEqual(['ping', '']);
    expect(events.map((e) => e.data)).toEqual(['x']);
  });

  it('accepts retry only when all digits', () => {
    const { retries, events } = parse(['retry: 2000\n\nretry: 12a\nretry: -5\nretry:\nretry: 300\n\n']);
    expect(retries).toEqual([2000, 300]);
    expect(events).toEqual([]);
  });

  it('handles CRLF, lone CR and LF line endings', () => {
    const { events } = parse(['data: a\r\ndata: b\r\r', 'data: c\rdata: d\n\n', 'event: e\r\ndata: f\r\n\r\n']);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['message', 'a\nb'],
      ['message', 'c\nd'],
      ['e', 'f'],
    ]);
  });

  it('treats CR at a chunk end followed by LF in the next chunk as one line break', () => {
    const { events } = parse(['data: a\r', '\ndata: b\r', '\n\r', '\n']);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toBe('a\nb');
  });

  it('does not swallow a line that starts after a CR at chunk end', () => {
    const { events } = parse(['data: a\r', 'data: b\r\r']);
    expect(events.map((e) => e.data)).toEqual(['a\nb']);
  });

  it('skips one leading UTF-8 BOM, even split across chunks, and only at the start', () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf]);
    const { events } = parse([bom.slice(0, 1), bom.slice(1), enc('data: x\n\n'), enc('\ufeffdata: y\n\n')]);
    expect(events.map((e) => e.data)).toEqual(['x']); // the second BOM makes the field name "\ufeffdata": ignored
    const r2 = parse([new Uint8Array([0xef, 0xbb, 0xbf, ...enc('data: z\n\n')])]);
    expect(r2.events.map((e) => e.data)).toEqual(['z']);
  });

  it('decodes a multi-byte UTF-8 character split across chunks', () => {
    const bytes = enc('data: héllo 😀 日本\n\n');
    const chunks = Array.from(bytes, (b) => new Uint8Array([b])); // one byte at a time
    const { events } = parse(chunks);
    expect(events[0]!.data).toBe('héllo 😀 日本');
  });

  it('ignores an id containing NUL and keeps the last event id across events', () => {
    const { events, parser } = parse(['id: 5\ndata: a\n\nid: 6\u00007\ndata: b\n\ndata: c\n\nid\ndata: d\n\n']);
    expect(events.map((e) => [e.data, e.lastEventId, e.id])).toEqual([
      ['a', '5', '5'],
      ['b', '5', undefined],
      ['c', '5', undefined],
      ['d', '', ''],
    ]);
    expect(parser.lastEventId).toBe('');
  });

  it('treats a field without colon as having an empty value and strips only one leading space', () => {
    const { events } = parse(['data\ndata:  two spaces\ndata:nospace\n\n']);
    expect(events[0]!.data).toBe('\n two spaces\nnospace');
  });

  it('does not dispatch an event with an empty data buffer, and resets its type', () => {
    const { events } = parse(['event: hello\nid: 3\n\ndata: x\n\n']);
    expect(events).toEqual([{ type: 'message', data: 'x', lastEventId: '3', id: undefined }]);
  });

  it('ignores unknown fields', () => {
    const { events } = parse(['foo: bar\ndata: x\nDATA: y\n\n']);
    expect(events.map((e) => e.data)).toEqual(['x']);
  });

  it('discards an unterminated event at end of stream', () => {
    const { events } = parse(['data: complete\n\ndata: partial\n']);
    expect(events.map((e) => e.data)).toEqual(['complete']);
  });

  it('gives the same result for any chunking', () => {
    const text = 'retry: 2000\r\n: ping\r\nid: 1\r\nevent: hello\r\ndata: {"x":"ü😀"}\r\n\r\nid: 2\rdata: a\rdata: b\r\rdata: c\n\n';
    const whole = parse([text]);
    const bytes = enc(text);
    for (let size = 1; size <= 7; size++) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
      const r = parse(chunks);
      expect(r.events).toEqual(whole.events);
      expect(r.retries).toEqual(whole.retries);
      expect(r.comments).toEqual(whole.comments);
    }
    expect(whole.events.map((e) => e.data)).toEqual(['{"x":"ü😀"}', 'a\nb', 'c']);
  });

  it('stop() ends dispatching mid-chunk', () => {
    const events: SseEvent[] = [];
    const p = new SseParser({
      onEvent: (e) => {
        events.push(e);
        p.stop();
      },
    });
    p.push('data: 1\n\ndata: 2\n\n');
    p.push('data: 3\n\n');
    expect(events.map((e) => e.data)).toEqual(['1']);
  });

  it('accepts already decoded strings', () => {
    const events: SseEvent[] = [];
    const p = new SseParser({ onEvent: (e) => events.push(e) });
    p.push('\ufeffdata: s\n');
    p.push('\n');
    expect(events.map((e) => e.data)).toEqual(['s']);
  });
});
