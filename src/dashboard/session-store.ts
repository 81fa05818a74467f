/**
 * The express-session store of the dashboard: sessions live in the database (the `sessions`
 * table), so they survive restarts and are shared by every instance. Expiry is enforced here,
 * on the server: a session ends after the idle timeout without activity, and at the latest at
 * the absolute lifetime after sign-in, whatever the cookie says.
 *
 * Activity moves a session's stored expiry at most once per TOUCH_EVERY_MS (a minute; a tenth of
 * a shorter idle timeout): every page view used to write its session row, and on SQLite each such
 * commit also empties the list reader's page cache (a search's count read 22 ms warm, 100 ms
 * cold). A session thus ends between the idle timeout less that step and the idle timeout after
 * its last activity, never later.
 */
import { Store, type SessionData } from 'express-session';
import type { Database } from '../data/database';
import {
  deleteExpiredSessions,
  deleteSession,
  deleteSessionsOfUser,
  findSession,
  listSessionsOfUser,
  touchSession,
  upsertSession,
} from '../data/repositories/sessions';

/** Where sessions live and how long they last. */
export interface SessionStoreOptions {
  database: Database;
  /** A session with no activity for this long ends. */
  idleMs: number;
  /** A signed-in session ends this long after sign-in, active or not. */
  maxMs: number;
  clock?: () => Date;
}

/** One of a person's sessions, as the account page lists it. */
export interface SessionSummary {
  sid: string;
  createdAt: Date;
  expiresAt: Date;
  signedInAt: Date | null;
  ip: string | null;
  userAgent: string | null;
}

type Callback = (error?: unknown) => void;

/** Activity is written when it moves the stored expiry by at least this much (capped to a tenth of the idle timeout). */
const TOUCH_EVERY_MS = 60_000;
/** Stored expiries remembered (by session id) to skip touches that would not move them enough. */
const REMEMBERED_EXPIRIES = 10_000;

/** express-session store on the `sessions` table. */
export class DatabaseSessionStore extends Store {
  private readonly db: Database;
  private readonly idleMs: number;
  private readonly maxMs: number;
  private readonly now: () => Date;
  private readonly touchEveryMs: number;
  /** Each session's expiry as this instance last read or wrote it (ms), newest last. */
  private readonly storedExpiry = new Map<string, number>();

  constructor(options: SessionStoreOptions) {
    super();
    if (!(options.idleMs > 0) || !(options.maxMs > 0)) {
      throw new TypeError('DatabaseSessionStore: idleMs and maxMs must be positive numbers of milliseconds.');
    }
    this.db = options.database;
    this.idleMs = options.idleMs;
    this.maxMs = options.maxMs;
    this.now = options.clock ?? (() => new Date());
    this.touchEveryMs = Math.min(TOUCH_EVERY_MS, this.idleMs / 10);
  }

  override get(sid: string, callback: (error: unknown, session?: SessionData | null) => void): void {
    this.read(sid).then(
      (session) => callback(null, session),
      (error) => callback(error),
    );
  }

  override set(sid: string, session: SessionData, callback?: Callback): void {
    const expiresAt = this.expiryOf(session);
    upsertSession(this.db.prisma, { sid, data: JSON.stringify(session), userId: session.userId ?? null, expiresAt }, this.now()).then(
      () => {
        this.remember(sid, expiresAt.getTime());
        callback?.();
      },
      (error) => callback?.(error),
    );
  }

  override touch(sid: string, session: SessionData, callback?: () => void): void {
    const expiresAt = this.expiryOf(session);
    const stored = this.storedExpiry.get(sid);
    // The request read the row just before (get): a move of less than the step is not written.
    if (stored !== undefined && expiresAt.getTime() - stored < this.touchEveryMs) {
      callback?.();
      return;
    }
    // A failed touch only shortens the session; the request itself must not fail for it.
    touchSession(this.db.prisma, sid, expiresAt).then(
      () => {
        this.remember(sid, expiresAt.getTime());
        callback?.();
      },
      () => callback?.(),
    );
  }

  override destroy(sid: string, callback?: Callback): void {
    this.storedExpiry.delete(sid);
    deleteSession(this.db.prisma, sid).then(() => callback?.(), (error) => callback?.(error));
  }

  /** Ends every session of a user (sign out everywhere, a disabled account), or all but `keepSid`. */
  endSessionsOfUser(userId: string, keepSid?: string): Promise<number> {
    return deleteSessionsOfUser(this.db.prisma, userId, keepSid);
  }

  /** A user's live sessions, newest first. */
  async sessionsOfUser(userId: string): Promise<SessionSummary[]> {
    const rows = await listSessionsOfUser(this.db.prisma, userId, this.now());
    return rows.map((row) => {
      const data = parse(row.data);
      return {
        sid: row.sid,
        createdAt: row.createdAt,
        expiresAt: row.expiresAt,
        signedInAt: data?.signedInAt ? new Date(data.signedInAt) : null,
        ip: data?.ip ?? null,
        userAgent: data?.userAgent ?? null,
      };
    });
  }

  /** Deletes expired rows (called now and then; expired sessions are refused anyway). */
  pruneExpired(): Promise<number> {
    return deleteExpiredSessions(this.db.prisma, this.now());
  }

  /** When a session ends if nothing happens: idle timeout from now, capped by the absolute lifetime. */
  expiryOf(session: Pick<SessionData, 'signedInAt'>): Date {
    const now = this.now().getTime();
    const idle = now + this.idleMs;
    return new Date(session.signedInAt ? Math.min(idle, session.signedInAt + this.maxMs) : idle);
  }

  private async read(sid: string): Promise<SessionData | null> {
    const row = await findSession(this.db.prisma, sid);
    if (!row) return null;
    const data = parse(row.data);
    const now = this.now().getTime();
    const expired =
      row.expiresAt.getTime() <= now || (data?.signedInAt !== undefined && data.signedInAt + this.maxMs <= now);
    if (!data || expired) {
      this.storedExpiry.delete(sid);
      await deleteSession(this.db.prisma, sid);
      return null;
    }
    this.remember(sid, row.expiresAt.getTime());
    return data;
  }

  private remember(sid: string, expiresAt: number): void {
    this.storedExpiry.delete(sid);
    this.storedExpiry.set(sid, expiresAt);
    if (this.storedExpiry.size > REMEMBERED_EXPIRIES) {
      const oldest = this.storedExpiry.keys().next().value;
      if (oldest !== undefined) this.storedExpiry.delete(oldest);
    }
  }
}

function parse(text: string): SessionData | null {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null ? (value as SessionData) : null;
  } catch {
    return null;
  }
}
