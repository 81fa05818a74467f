/**
 * Dashboard sessions (the express-session store's rows). `data` is the serialised session;
 * `userId` is copied out of it so "sign out everywhere" and "end my other sessions" are one
 * indexed delete, and `expiresAt` so expired rows are found and pruned by index.
 */
import type { Db, Tx } from '../client-types';

/** A row of the `sessions` table. */
export interface SessionRow {
  sid: string;
  data: string;
  userId: string | null;
  expiresAt: Date;
  createdAt: Date;
}

/** A session row, or null when there is none. Expiry is the caller's business. */
export async function findSession(db: Db, sid: string): Promise<SessionRow | null> {
  return db.session.findUnique({ where: { sid } });
}

/** Creates or replaces a session row. */
export async function upsertSession(
  db: Db,
  row: { sid: string; data: string; userId: string | null; expiresAt: Date },
  now: Date,
): Promise<void> {
  await db.session.upsert({
    where: { sid: row.sid },
    create: { ...row, createdAt: now },
    update: { data: row.data, userId: row.userId, expiresAt: row.expiresAt },
  });
}

/** Moves a session's expiry (activity within the idle timeout). Missing rows are ignored. */
export async function touchSession(db: Db, sid: string, expiresAt: Date): Promise<void> {
  await db.session.updateMany({ where: { sid }, data: { expiresAt } });
}

/** Deletes a session (sign-out, expiry). Missing rows are ignored. */
export async function deleteSession(db: Db, sid: string): Promise<void> {
  await db.session.deleteMany({ where: { sid } });
}

/** Deletes every session of a user, except `keepSid` when given. Returns how many ended. */
export async function deleteSessionsOfUser(db: Db | Tx, userId: string, keepSid?: string): Promise<number> {
  const result = await db.session.deleteMany({
    where: { userId, ...(keepSid ? { sid: { not: keepSid } } : {}) },
  });
  return result.count;
}

/** A user's sessions that have not expired at `now`, newest first. */
export async function listSessionsOfUser(db: Db, userId: string, now: Date): Promise<SessionRow[]> {
  return db.session.findMany({
    where: { userId, expiresAt: { gt: now } },
    orderBy: { createdAt: 'desc' },
    take: 100,
  });
}

/** Deletes sessions that expired at or before `now`. */
export async function deleteExpiredSessions(db: Db, now: Date): Promise<number> {
  const result = await db.session.deleteMany({ where: { expiresAt: { lte: now } } });
  return result.count;
}
