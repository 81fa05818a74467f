/**
 * A small parser of server-sent events (the WHATWG "event stream" format), fed text as it arrives
 * in chunks of any size: a line, a CRLF pair or a field split across two chunks yields the same
 * events as the whole stream at once. It never throws on what it is fed; lines it does not
 * understand are ignored, as the format says.
 */

/** The longest line kept while waiting for its end (1 MiB of text). */
const MAX_LINE = 1 << 20;

/** One dispatched event. `id` is the last event id seen so far (it persists across events). */
export interface SseEvent {
  event: string;
  data: string;
  id: string;
}

/** Parses an event stream; push() text as it comes (decoded with a streaming decoder). */
export class SseParser {
  private buffer = '';
  /** A CR ended the previous chunk: an LF at the start of the next one belongs to it. */
  private pendingCr = false;
  private started = false;
  private eventType = '';
  private data: string[] = [];
  private lastEventId = '';
  /** The last `retry:` value in milliseconds, or null when none was sent. */
  retryMs: number | null = null;

  /** The last event id received (what a reconnection sends as Last-Event-ID). */
  get lastId(): string {
    return this.lastEventId;
  }

  /** Feeds a chunk; returns the events it completed (possibly none). */
  push(chunk: string): SseEvent[] {
    const events: SseEvent[] = [];
    let text = chunk;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer.slice(start, i), events);
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCr = true;
        }
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    // A line that never ends is not an event stream: drop it rather than grow without bound.
    if (this.buffer.length > MAX_LINE) this.buffer = '';
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      this.dispatch(events);
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' starts a comment (heartbeats)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
  }

  private dispatch(events: SseEvent[]): void {
    const type = this.eventType;
    const data = this.data;
    this.eventType = '';
    this.data = [];
    if (data.length === 0) return;
    events.push({ event: type === '' ? 'message' : type, data: data.join('\n'), id: this.lastEventId });
  }
}
