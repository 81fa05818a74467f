/**
 * What database errors mean for the app. The shapes below were produced for real (backends
 * terminated, a proxy that stops forwarding, a refused port, statement timeouts, a SQLite file
 * locked by another connection) and printed; test/unit/database-errors.test.ts produces them again.
 */
import { AppError } from '../errors';

/** True when a Prisma error is a unique-constraint violation (P2002), e.g. a taken slug or email. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'P2002';
}

/**
 * Code of the error a write fails with (rolled back) when a statement changed other than the rows
 * it expected (WritePlan.executeExpecting).
 */
export const UNEXPECTED_CHANGES = 'KEYWARD_UNEXPECTED_CHANGES';

/** Whether a write failed (and rolled back) because a statement changed other than the rows it expected. */
export function isUnexpectedChanges(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === UNEXPECTED_CHANGES;
}

/**
 * Prisma codes of connection-level failures: can't reach (P1001), timed out (P1002, P1008: also
 * SQLite's busy timeout), connection closed (P1017), no free connection (P2024, P2037), and an
 * interactive transaction that could not start or outlived its timeout (P2028).
 */
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028', 'P2037']);

/** Driver-adapter error kinds (`meta.driverAdapterError.cause.kind`) that mean the same. */
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'SocketTimeout', 'ConnectionClosed', 'TooManyConnections']);

/**
 * PostgreSQL SQLSTATEs: connection exceptions (class 08), the server ending the session
 * (57P01 admin shutdown, e.g. pg_terminate_backend or a failover; 57P02 crash; 57P03 starting or
 * in recovery), a statement cancelled by statement_timeout (57014), too many connections (53300),
 * and a transaction ended by idle_in_transaction_session_timeout (25P03).
 */
function isUnavailablePgCode(code: string): boolean {
  return code.startsWith('08') || ['57P01', '57P02', '57P03', '57014', '53300', '25P03'].includes(code);
}

/** Socket errors from Node (a refused, reset or timed-out connection, an unreachable host). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * node-postgres's own errors carry no code, only these messages: a connection ended under a
 * query, a connect or pool wait that timed out, a query whose answer never came (query_timeout),
 * and a client already known to be broken.
 */
const PG_CLIENT_MESSAGES = new Set([
  'Connection terminated',
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
]);

const isSqliteBusy = (code: string) => code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');

type Shape = { code?: unknown; kind?: unknown; originalCode?: unknown; message?: unknown; severity?: unknown; syscall?: unknown };

/** The reason one error object (not its causes) is a connection-level failure, or null. */
function ownReason(error: Shape): string | null {
  const code = typeof error.code === 'string' ? error.code : null;
  const kind = typeof error.kind === 'string' ? error.kind : null;
  const originalCode = typeof error.originalCode === 'string' ? error.originalCode : null;
  // A driver-adapter cause: { kind, originalCode?, code? } (kind "postgres" carries the SQLSTATE).
  if (kind === 'postgres' && code && isUnavailablePgCode(code)) return code;
  if (originalCode && isSqliteBusy(originalCode)) return originalCode;
  if (kind && ADAPTER_KINDS.has(kind)) return originalCode ? `${kind} ${originalCode}` : kind;
  if (code) {
    if (PRISMA_CODES.has(code)) return code;
    // A node-postgres DatabaseError (it has a severity) or a better-sqlite3 SqliteError.
    if (typeof error.severity === 'string' && isUnavailablePgCode(code)) return code;
    if (isSqliteBusy(code)) return code;
    if (typeof error.syscall === 'string' && SOCKET_CODES.has(code)) return code;
  }
  if (typeof error.message === 'string' && PG_CLIENT_MESSAGES.has(error.message)) return error.message;
  return null;
}

/** An error and the errors it wraps, outermost first (at most six deep). */
function* layers(error: unknown): Generator<Shape> {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    yield current as Shape;
    // Prisma keeps the driver's error in meta.driverAdapterError, whose cause holds the kind and code.
    const adapterError = (current as { meta?: { driverAdapterError?: unknown } }).meta?.driverAdapterError;
    current = adapterError ?? (current as { cause?: unknown }).cause;
  }
}

/**
 * A short, secret-free reason when `error` (or an error it wraps) means the database is
 * unreachable, silent or ending connections, e.g. "57P01" or "Query read timeout"; null for any
 * other error. The innermost reason wins (the driver's "SQLITE_BUSY" says more than Prisma's
 * "P1008"). Never the error's message as a whole: Prisma messages can quote query arguments.
 */
export function databaseUnavailableReason(error: unknown): string | null {
  let found: string | null = null;
  for (const layer of layers(error)) found = ownReason(layer) ?? found;
  return found;
}

/**
 * True when `error` means the database cannot be used right now (down, silent past the configured
 * timeouts, a connection it ended, SQLite locked past its busy timeout): the request may succeed
 * if retried shortly, so it is answered 503, not 500.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return databaseUnavailableReason(error) !== null;
}

/**
 * SQLite result codes and PostgreSQL SQLSTATE classes that refuse a statement for the data it
 * carries: a constraint (SQLITE_CONSTRAINT_*, class 23), a value out of a column's range or of the
 * wrong type (SQLITE_MISMATCH, SQLITE_TOOBIG, SQLITE_RANGE, class 22). The same statement with the
 * same data fails the same way however often it is sent.
 */
function isRefusalCode(code: string): boolean {
  if (code.startsWith('SQLITE_')) return ['SQLITE_CONSTRAINT', 'SQLITE_MISMATCH', 'SQLITE_TOOBIG', 'SQLITE_RANGE'].some((c) => code.startsWith(c));
  return /^2[23][0-9A-Z]{3}$/.test(code);
}

/**
 * The code (e.g. "22003", "SQLITE_CONSTRAINT_NOTNULL") when `error` (or an error it wraps: Prisma's
 * driverAdapterError, a cause) is the database refusing a statement for its data, so that sending
 * it again is refused again; null for any other error (an outage, a timeout, a bug of ours).
 */
export function databaseRefusalReason(error: unknown): string | null {
  for (const { code, originalCode } of layers(error)) {
    for (const candidate of [originalCode, code]) if (typeof candidate === 'string' && isRefusalCode(candidate)) return candidate;
  }
  return null;
}

/** 503 `database_unavailable`: what every request that needed an unavailable database answers. */
export function databaseUnavailable(cause?: unknown): AppError {
  return new AppError({
    status: 503,
    code: 'database_unavailable',
    type: 'server_error',
    message: 'The database does not answer. Retry shortly.',
    headers: { 'Retry-After': '1' },
    cause,
  });
}
