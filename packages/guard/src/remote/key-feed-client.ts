/**
 * Follows Keyward's key change feed (GET /api/v1/keys/changes, server-sent events) for the remote
 * guard: every change of a key of the credential's tenant, within moments. It tells its listener
 * when the feed is up (response headers received: the server is subscribed from then on), every
 * changed key, a reset (the server could not resume: drop everything), and when it goes down (the
 * connection ended, failed, or stayed silent past `staleMs`: a partition looks like silence, so
 * the server's heartbeats are what prove the feed alive). It reconnects with backoff until close().
 *
 * node:http rather than fetch: the socket can be unref'd, so an idle feed never keeps a process
 * alive, and the response arrives as text through Node's streaming decoder.
 */
import http from 'node:http';
import https from 'node:https';
import { SseParser } from './sse-parser';

/** What the feed tells the guard. */
export interface KeyFeedListener {
  /** Connected: changes from now on will arrive. */
  up(): void;
  /** A key changed (revoked, updated, deleted, ...). */
  changed(keyId: string): void;
  /** The server could not resume where this client left off: every cached verdict is suspect. */
  reset(): void;
  /** Disconnected (or silent too long): nothing cached may be used until up() again. */
  down(): void;
}

export interface KeyFeedOptions {
  /** Keyward's base URL (the feed is GET {url}/api/v1/keys/changes). */
  url: string;
  /** A key with scope `keys:verify`. */
  credential: string;
  /** The heartbeat interval asked of the server (whole seconds, 1 to 60). */
  heartbeatMs: number;
  /** Silence longer than this (no byte at all, heartbeats included) counts as a lost connection. */
  staleMs: number;
  /** First reconnection delay; doubles per failed attempt up to `maxDelayMs` (with jitter). */
  initialDelayMs: number;
  maxDelayMs: number;
  onError?: (error: unknown) => void;
}

type State = 'idle' | 'connecting' | 'up' | 'closed';

/** A connection to the change feed that reconnects until closed. */
export class KeyFeedClient {
  private state: State = 'idle';
  private request: http.ClientRequest | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private lastEventId = '';
  private serverRetryMs: number | null = null;
  /** Counts connections, so callbacks of an abandoned one are ignored. */
  private connection = 0;

  constructor(
    private readonly options: KeyFeedOptions,
    private readonly listener: KeyFeedListener,
  ) {}

  /** True while connected (headers received, not stale, not closed). */
  get connected(): boolean {
    return this.state === 'up';
  }

  /** Connects now (once). */
  start(): void {
    if (this.state === 'idle') this.connect();
  }

  /** Stops for good: the connection is closed and no reconnection is scheduled. */
  close(): void {
    if (this.state === 'closed') return;
    const wasUp = this.state === 'up';
    this.state = 'closed';
    this.connection++;
    this.clearTimers();
    this.request?.destroy();
    this.request = null;
    if (wasUp) this.listener.down();
  }

  private connect(): void {
    const id = ++this.connection;
    this.state = 'connecting';
    const url = new URL('/api/v1/keys/changes', this.options.url);
    url.searchParams.set('heartbeat', String(Math.round(this.options.heartbeatMs / 1000)));
    const headers: Record<string, string> = {
      accept: 'text/event-stream',
      authorization: `Bearer ${this.options.credential}`,
      'cache-control': 'no-store',
    };
    if (this.lastEventId !== '') headers['last-event-id'] = this.lastEventId;
    const client = url.protocol === 'https:' ? https : http;
    // agent false: a connection of its own, never a pooled socket held open for other requests.
    const req = client.request(url, { method: 'GET', headers, agent: false });
    this.request = req;
    const current = () => id === this.connection;
    this.arm(() => current() && this.fail(new Error(`Keyward's key feed did not answer within ${this.options.staleMs} ms`)));
    req.on('socket', (socket) => socket.unref());
    req.on('error', (error) => current() && this.fail(error));
    req.on('response', (res) => {
      if (!current()) {
        res.destroy();
        return;
      }
      const type = String(res.headers['content-type'] ?? '');
      if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        res.resume();
        this.fail(new Error(`Keyward's key feed answered ${res.statusCode} (${type || 'no content type'}): check the URL and that the credential holds keys:verify`));
        return;
      }
      const parser = new SseParser();
      res.setEncoding('utf8');
      this.state = 'up';
      this.listener.up();
      res.on('data', (chunk: string) => {
        if (!current()) return;
        this.watchdog?.refresh();
        this.attempts = 0;
        for (const event of parser.push(chunk)) {
          if (event.id !== '') this.lastEventId = event.id;
          if (event.event === 'key') {
            const keyId = keyIdOf(event.data);
            // A change it cannot read may be any key's: treat it as a reset.
            if (keyId) this.listener.changed(keyId);
            else this.listener.reset();
          } else if (event.event === 'reset') {
            this.listener.reset();
          }
        }
        if (parser.retryMs !== null) this.serverRetryMs = parser.retryMs;
      });
      res.on('error', (error) => current() && this.fail(error));
      res.on('close', () => current() && this.fail(new Error("Keyward's key feed closed")));
    });
    req.end();
  }

  /** (Re)starts the silence watchdog. */
  private arm(onStale: () => void): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(onStale, this.options.staleMs);
    this.watchdog.unref();
  }

  /** The connection is lost: tell the listener, then reconnect after the backoff. */
  private fail(error: unknown): void {
    if (this.state === 'closed') return;
    const wasUp = this.state === 'up';
    this.connection++;
    this.clearTimers();
    this.request?.destroy();
    this.request = null;
    this.state = 'connecting';
    if (wasUp) this.listener.down();
    this.options.onError?.(error);
    const base = Math.max(this.options.initialDelayMs, this.serverRetryMs ?? 0);
    const delay = Math.min(this.options.maxDelayMs, base * 2 ** Math.min(this.attempts, 16));
    this.attempts++;
    // Jitter: many guards that lost Keyward at once do not all come back in the same millisecond.
    this.retryTimer = setTimeout(() => this.state === 'connecting' && this.connect(), delay / 2 + Math.random() * (delay / 2));
    this.retryTimer.unref();
  }

  private clearTimers(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.watchdog = null;
    this.retryTimer = null;
  }
}

/** The key id of a `key` event's data (`{"keyId": "...", "kind": "..."}`), or null. */
function keyIdOf(data: string): string | null {
  try {
    const parsed = JSON.parse(data) as { keyId?: unknown } | null;
    return typeof parsed?.keyId === 'string' && parsed.keyId !== '' ? parsed.keyId : null;
  } catch {
    return null;
  }
}
