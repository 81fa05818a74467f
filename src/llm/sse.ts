import type { Response } from 'express';

/** Starts a server-sent-events response. */
export function startEventStream(res: Response): void {
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Connection', 'keep-alive');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
}

/** Writes one `data:` event; false once the client has gone. */
export function sendEvent(res: Response, data: unknown): boolean {
  if (res.destroyed || res.writableEnded) return false;
  res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  return true;
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
