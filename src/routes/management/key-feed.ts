/**
 * GET /api/v1/keys/changes: the key change feed, as server-sent events, for services that cache
 * verify answers (the remote guard of @keyward/guard). Authenticated like the verify API (a key
 * with scope `keys:verify`, passed through the caller guard once per connection; events count
 * nothing), it streams changes of keys of the caller's tenant only:
 *
 *   retry: 2000
 *   id: <cursor>
 *   event: ready            data: {"heartbeatMs": 15000}       (once, on connect)
 *   id: <cursor>
 *   event: key              data: {"keyId": "...", "kind": "revoked"}
 *   event: reset            data: {}   (a Last-Event-ID that cannot be resumed: drop every cached answer)
 *   : heartbeat             (a comment every `heartbeat` seconds, 1 to 60, default 15)
 *
 * Every instance hears every key change (the KeyEventBus: Redis or key_changes polling), so a
 * client may connect to any. The cursor is `<epoch>.<n>`: n counts the tenant's changes this
 * process heard since it began following the bus (its epoch). A Last-Event-ID of the same epoch
 * whose missed changes are still in the backlog is resumed; any other is answered with a reset.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import type { KeyChange, KeyEventBus } from '@keyward/guard';
import { validationError } from '../../errors';
import { callingKey } from './actor';

/** Heartbeat bounds and default (seconds). */
const HEARTBEAT = { min: 1, max: 60, default: 15 };
/** Reconnection delay suggested to clients. */
const RETRY_MS = 2000;
/** Changes kept for resumption, all tenants together. */
const BACKLOG = 2048;
/** A client that reads nothing while this much is queued for it is dropped (it reconnects and resumes). */
const MAX_QUEUED_BYTES = 1 << 20;
/** How often open streams check that their server still listens (a stopping server ends them). */
const STOP_CHECK_MS = 250;

interface Journaled {
  tenantId: string;
  n: number;
  keyId: string;
  kind: KeyChange['kind'];
}

type Stream = { tenantId: string; res: Response; server: Server | undefined; send(entry: Journaled): void; end(): void };

/**
 * The changes heard since the first stream opened, per tenant, with a bounded backlog. It follows
 * the bus only while streams are open; when it starts again it is a new epoch (it missed changes).
 */
class ChangeJournal {
  epoch = '';
  private readonly counters = new Map<string, number>();
  /** Per tenant, the highest change number no longer in the backlog. */
  private readonly dropped = new Map<string, number>();
  private readonly backlog: Journaled[] = [];
  private readonly streams = new Set<Stream>();
  private unsubscribe: (() => void) | null = null;
  private stopCheck: NodeJS.Timeout | null = null;

  constructor(private readonly events: KeyEventBus) {}

  /** The cursor of a tenant's latest change. */
  cursor(tenantId: string): string {
    return `${this.epoch}.${this.counters.get(tenantId) ?? 0}`;
  }

  add(stream: Stream): void {
    if (this.streams.size === 0) this.follow();
    this.streams.add(stream);
  }

  remove(stream: Stream): void {
    this.streams.delete(stream);
    if (this.streams.size === 0) this.unfollow();
  }

  /** The tenant's changes after `lastEventId`, or null when they cannot all be told (a reset). */
  since(tenantId: string, lastEventId: string): Journaled[] | null {
    const match = /^([A-Za-z0-9_-]+)\.(\d{1,15})$/.exec(lastEventId);
    if (!match || match[1] !== this.epoch) return null;
    const after = Number(match[2]);
    if (after > (this.counters.get(tenantId) ?? 0) || after < (this.dropped.get(tenantId) ?? 0)) return null;
    return this.backlog.filter((entry) => entry.tenantId === tenantId && entry.n > after);
  }

  private follow(): void {
    this.epoch = randomBytes(6).toString('base64url');
    this.counters.clear();
    this.dropped.clear();
    this.backlog.length = 0;
    this.unsubscribe = this.events.subscribe((change) => this.heard(change));
    // server.close() stops listening at once but waits for open connections: a stream would hold
    // a graceful stop up until its timeout. Streams of a server that stopped listening end (their
    // clients reconnect to another instance).
    this.stopCheck = setInterval(() => {
      for (const stream of this.streams) if (stream.server && !stream.server.listening) stream.end();
    }, STOP_CHECK_MS);
    this.stopCheck.unref();
  }

  private unfollow(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.stopCheck) clearInterval(this.stopCheck);
    this.stopCheck = null;
  }

  private heard(change: KeyChange): void {
    const n = (this.counters.get(change.tenantId) ?? 0) + 1;
    this.counters.set(change.tenantId, n);
    const entry: Journaled = { tenantId: change.tenantId, n, keyId: change.keyId, kind: change.kind };
    this.backlog.push(entry);
    if (this.backlog.length > BACKLOG) {
      const old = this.backlog.shift() as Journaled;
      this.dropped.set(old.tenantId, old.n);
    }
    for (const stream of this.streams) if (stream.tenantId === change.tenantId) stream.send(entry);
  }
}

/** The `heartbeat` query parameter in seconds (default 15). */
function heartbeatSeconds(req: Request): number {
  const raw = req.query.heartbeat;
  if (raw === undefined) return HEARTBEAT.default;
  const value = typeof raw === 'string' && /^\d{1,2}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= HEARTBEAT.min && value <= HEARTBEAT.max)) {
    throw validationError([{ field: 'heartbeat', message: `must be whole seconds from ${HEARTBEAT.min} to ${HEARTBEAT.max}` }]);
  }
  return value;
}

const frame = (id: string, event: string, data: unknown) => `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** The feed route, behind `caller` (the guard of the calling key, as for verify). */
export function keyFeedRouter(events: KeyEventBus, caller: RequestHandler): Router {
  const journal = new ChangeJournal(events);
  const router = Router();
  router.get('/', caller, (req, res) => {
    const tenantId = callingKey(req).tenantId;
    const heartbeatMs = heartbeatSeconds(req) * 1000;
    const lastEventId = req.get('last-event-id');

    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    // no-transform: proxies must not compress or rewrite (which buffers); X-Accel-Buffering: nginx must not buffer.
    res.setHeader('Cache-Control', 'no-store, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    res.setHeader('Connection', 'keep-alive');
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true, heartbeatMs);

    const write = (text: string) => {
      if (res.writableEnded || res.destroyed) return;
      res.write(text);
      if (res.writableLength > MAX_QUEUED_BYTES) res.destroy();
    };
    const stream: Stream = {
      tenantId,
      res,
      server: (req.socket as { server?: Server }).server,
      send: (entry) => write(frame(`${journal.epoch}.${entry.n}`, 'key', { keyId: entry.keyId, kind: entry.kind })),
      // Used when the server stops: the connection closes too (an idle keep-alive one would hold the stop up).
      end: () => {
        if (res.writableEnded) return;
        res.end(() => req.socket.end());
      },
    };
    // Subscribed before the headers leave: a client that sees them hears every change from then on.
    journal.add(stream);
    const heartbeat = setInterval(() => write(': heartbeat\n\n'), heartbeatMs);
    heartbeat.unref();
    res.once('close', () => {
      clearInterval(heartbeat);
      journal.remove(stream);
    });

    let opening = `retry: ${RETRY_MS}\n`;
    const missed = lastEventId === undefined ? [] : journal.since(tenantId, lastEventId);
    if (missed === null) {
      opening += frame(journal.cursor(tenantId), 'reset', {});
    } else {
      for (const entry of missed) opening += frame(`${journal.epoch}.${entry.n}`, 'key', { keyId: entry.keyId, kind: entry.kind });
    }
    opening += frame(journal.cursor(tenantId), 'ready', { heartbeatMs });
    res.flushHeaders();
    write(opening);
  });
  return router;
}
