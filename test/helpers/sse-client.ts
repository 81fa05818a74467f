/** Reads a server-sent-events stream in tests: the events so far, and waiting for one. */
import http from 'node:http';
import { type SseEvent, SseParser } from '../../packages/guard/src/remote/sse-parser';

export interface SseConnection {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  /** Everything received, comments included. */
  raw(): string;
  /** Resolves with the first event (from the start) matching `predicate`; rejects after `timeoutMs`. */
  next(predicate: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Resolves once the raw text matches `pattern`. */
  until(pattern: RegExp, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Opens `url` as an event stream (resolves once the response headers arrived). */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const parser = new SseParser();
      const events: SseEvent[] = [];
      let raw = '';
      const waiters = new Set<() => void>();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        events.push(...parser.push(chunk));
        for (const waiter of [...waiters]) waiter();
      });
      res.on('error', () => undefined);
      const wait = (done: () => boolean, what: string, timeoutMs: number) =>
        new Promise<void>((ok, fail) => {
          const check = () => {
            if (!done()) return;
            clearTimeout(timer);
            waiters.delete(check);
            ok();
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            fail(new Error(`no ${what} within ${timeoutMs} ms; received: ${raw.slice(-500)}`));
          }, timeoutMs);
          waiters.add(check);
          check();
        });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        raw: () => raw,
        async next(predicate, timeoutMs = 5000) {
          await wait(() => events.some(predicate), 'matching event', timeoutMs);
          return events.find(predicate) as SseEvent;
        },
        until: (pattern, timeoutMs = 5000) => wait(() => pattern.test(raw), String(pattern), timeoutMs),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

/** Waits until `condition` holds (polling every 10 ms), or throws after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
