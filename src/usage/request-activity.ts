/**
 * What a key did request by request: pages of its request log (newest first, filtered, with an
 * opaque cursor), the client addresses it was used from, and, for the platform admin, the
 * addresses that presented keys naming no key. Shared by the management API and the dashboard.
 */
import type { Db } from '../data/client-types';
import {
  type ClientAddress,
  keyClientAddresses,
  type LogCursor,
  listRequestLog,
  type RequestLogEntry,
  type UnknownKeyAttempts,
  unknownKeyAttemptsByAddress,
} from '../data/repositories/request-log';
import { dayStart, type RequestOutcome } from '@keyward/guard';

export type { ClientAddress, RequestLogEntry, UnknownKeyAttempts } from '../data/repositories/request-log';

const DAY_MS = 86_400_000;

/** The cursor is opaque to clients: base64url of "<at ms>.<id>" (the last row of the page). */
export function encodeCursor(cursor: LogCursor): string {
  return Buffer.from(`${cursor.at.getTime()}.${cursor.id}`).toString('base64url');
}

/** The position a cursor names, or null when it is not one this server made. */
export function decodeCursor(text: string): LogCursor | null {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(text)) return null;
  const match = /^(\d{1,15})\.(\d{1,19})$/.exec(Buffer.from(text, 'base64url').toString('latin1'));
  if (!match) return null;
  const at = new Date(Number(match[1]));
  return Number.isNaN(at.getTime()) ? null : { at, id: BigInt(match[2]) };
}

/** Which rows of a key's log a page holds. */
export interface RequestLogFilters {
  /** Rows per page (1-100 for the API; exports may ask more). */
  limit: number;
  /** Continue after this position (a previous page's nextCursor). */
  cursor?: LogCursor;
  outcome?: RequestOutcome;
  ip?: string;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

/** One page of a key's log. */
export interface RequestLogPage {
  rows: RequestLogEntry[];
  /** Where the next (older) page starts, or null on the last page. */
  nextCursor: string | null;
}

/** One page of a key's request log, newest first. The caller checked the key is in `tenantId`. */
export async function requestLogPage(db: Db, tenantId: string, keyId: string, filters: RequestLogFilters): Promise<RequestLogPage> {
  const { rows, more } = await listRequestLog(db, {
    keyId,
    tenantId,
    limit: filters.limit,
    after: filters.cursor,
    outcome: filters.outcome,
    ip: filters.ip,
    from: filters.from,
    to: filters.to,
  });
  const last = rows[rows.length - 1];
  return { rows, nextCursor: more && last ? encodeCursor({ at: last.at, id: last.id }) : null };
}

/** The client addresses a key was used from, most recently seen first (at most `limit`). */
export function clientAddresses(db: Db, tenantId: string, keyId: string, limit = 100): Promise<ClientAddress[]> {
  return keyClientAddresses(db, keyId, tenantId, limit);
}

/**
 * Addresses that presented keys naming no key (malformed, bad checksum, unknown id) or were
 * refused as blocked guessers, over the last `days` UTC days (today included), most attempts first.
 */
export function unknownKeyAttempts(db: Db, options: { days?: number; limit?: number; now?: number } = {}): Promise<UnknownKeyAttempts[]> {
  const days = options.days ?? 7;
  const from = dayStart(options.now ?? Date.now()) - (days - 1) * DAY_MS;
  return unknownKeyAttemptsByAddress(db, new Date(from), options.limit ?? 50);
}
