import type { Response } from 'express';

/**
 * A server-sent-events response that honours backpressure: when the client's socket buffer is
 * full, the next event waits until it drains, so a client that reads slowly slows the producer
 * down instead of growing memory. A client that reads nothing for `idleMs` gets its stream ended
 * (destroyed: the guard then settles the request as client_closed).
 */
export class EventStream {
  constructor(
    private readonly res: Response,
    private readonly idleMs: number,
  ) {}

  /** Sends the status and headers at once. */
  start(): void {
    const res = this.res;
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
  }

  /**
   * Writes one `data:` event (named `event` when given, as the Responses API names its events);
   * resolves false once the client has gone (or stopped reading).
   */
  send(data: unknown, event?: string): Promise<boolean> | boolean {
    const res = this.res;
    if (res.destroyed || res.writableEnded) return false;
    const name = event ? `event: ${event}\n` : '';
    if (res.write(`${name}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)) return true;
    return this.drained();
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }

  private drained(): Promise<boolean> {
    const res = this.res;
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        res.off('drain', onDrain);
        res.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => finish(true);
      const onClose = () => finish(false);
      const timer = setTimeout(() => {
        res.destroy();
        finish(false);
      }, this.idleMs);
      res.once('drain', onDrain);
      res.once('close', onClose);
    });
  }
}

/** Splits an SSE byte stream into the payloads of its `data:` lines. */
export async function* readEventData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let boundary = buffer.search(/\r?\n\r?\n/);
    while (boundary !== -1) {
      const event = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, '');
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data !== '') yield data;
      boundary = buffer.search(/\r?\n\r?\n/);
    }
  }
}
