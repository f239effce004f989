/**
 * A pure, incremental `text/event-stream` parser following the WHATWG HTML spec
 * ("9.2.6 Interpreting an event stream"). Feed it bytes (or text) in chunks of any size;
 * it calls back for every dispatched event, every `retry:` value and every comment.
 *
 * - lines end in CRLF, LF or CR, also when a CR ends one chunk and the LF starts the next;
 * - one leading U+FEFF BOM is skipped;
 * - UTF-8 is decoded in stream mode, so a chunk may split a multi-byte character;
 * - `data` lines are joined with "\n"; an event with an empty data buffer is not dispatched;
 * - `id` containing U+0000 is ignored; `retry` is honoured only if it is all ASCII digits;
 * - a field without a colon has an empty value; one space after the colon is stripped;
 * - at end of stream an unterminated event is discarded.
 */

export interface SseEvent {
  /** `event:` field, or "message" when absent. */
  type: string;
  data: string;
  /** The source's last event ID after this event (persists across events, per spec). */
  lastEventId: string;
  /** The `id:` value set in this very event block, if any. */
  id: string | undefined;
}

export interface SseParserHandlers {
  onEvent: (event: SseEvent) => void;
  onRetry?: (ms: number) => void;
  onComment?: (text: string) => void;
}

export interface SseParserOptions {
  /** Longest accepted line or data buffer, in UTF-16 code units (default 16 Mi). */
  maxBufferLength?: number;
}

const LF = 10;
const CR = 13;

export class SseBufferOverflowError extends Error {
  override name = 'SseBufferOverflowError';
}

export class SseParser {
  private readonly handlers: SseParserHandlers;
  private readonly maxLen: number;
  private decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private line = '';
  private skipLF = false;
  private bomChecked = false;
  private dataBuf = '';
  private typeBuf = '';
  private idInBlock: string | undefined = undefined;
  private _lastEventId = '';
  private stopped = false;

  constructor(handlers: SseParserHandlers, options: SseParserOptions = {}) {
    this.handlers = handlers;
    this.maxLen = options.maxBufferLength ?? 16 * 1024 * 1024;
  }

  /** The last event ID string (survives across events; reset by an empty `id:`). */
  get lastEventId(): string {
    return this._lastEventId;
  }

  /** Stops dispatching: the rest of the current and any later chunk is ignored. */
  stop(): void {
    this.stopped = true;
  }

  /** Feeds one chunk of bytes (decoded as UTF-8 in stream mode) or of already decoded text. */
  push(chunk: Uint8Array | string): void {
    if (this.stopped) return;
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    this.feed(text);
  }

  /** Ends the stream: flushes the decoder and discards any unterminated event. */
  end(): void {
    if (!this.stopped) {
      const rest = this.decoder.decode();
      if (rest) this.feed(rest);
    }
    this.line = '';
    this.dataBuf = '';
    this.typeBuf = '';
    this.idInBlock = undefined;
    this.skipLF = false;
    this.decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  }

  private feed(input: string): void {
    let text = input;
    if (!this.bomChecked) {
      if (text.length === 0) return;
      this.bomChecked = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      if (this.stopped) return;
      const c = text.charCodeAt(i);
      if (this.skipLF) {
        this.skipLF = false;
        if (c === LF) {
          start = i + 1;
          continue;
        }
      }
      if (c === CR || c === LF) {
        const line = this.line + text.slice(start, i);
        this.line = '';
        start = i + 1;
        if (c === CR) this.skipLF = true;
        this.processLine(line);
      }
    }
    if (this.stopped) return;
    this.line += text.slice(start);
    if (this.line.length > this.maxLen) throw new SseBufferOverflowError('SSE line too long');
  }

  private processLine(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.handlers.onComment?.(line.slice(1).replace(/^ /, ''));
      return;
    }
    let field: string;
    let value: string;
    if (colon > 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    } else {
      field = line;
      value = '';
    }
    switch (field) {
      case 'event':
        this.typeBuf = value;
        break;
      case 'data':
        this.dataBuf += value + '\n';
        if (this.dataBuf.length > this.maxLen) throw new SseBufferOverflowError('SSE data too long');
        break;
      case 'id':
        if (!value.includes('\u0000')) {
          this._lastEventId = value;
          this.idInBlock = value;
        }
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.handlers.onRetry?.(Number.parseInt(value, 10));
        break;
      default:
        // unknown fields are ignored
        break;
    }
  }

  private dispatch(): void {
    const id = this.idInBlock;
    this.idInBlock = undefined;
    if (this.dataBuf === '') {
      this.typeBuf = '';
      return;
    }
    const data = this.dataBuf.endsWith('\n') ? this.dataBuf.slice(0, -1) : this.dataBuf;
    const type = this.typeBuf === '' ? 'message' : this.typeBuf;
    this.dataBuf = '';
    this.typeBuf = '';
    this.handlers.onEvent({ type, data, lastEventId: this._lastEventId, id });
  }
}
