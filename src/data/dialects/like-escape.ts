/**
 * Literal substring search through Prisma's `contains`. Prisma turns `contains` into
 * `LIKE ('%' || ? || '%')` (ILIKE with `mode: 'insensitive'` on PostgreSQL) and passes the text
 * through unescaped (prisma/prisma#19506), so `%` and `_` typed by a person act as wildcards:
 * `search=%` matched every key. The text is escaped here with a backslash. PostgreSQL's LIKE and
 * ILIKE use the backslash as their escape character by default; SQLite's LIKE has no escape
 * character unless the statement names one, and Prisma does not, so on SQLite the client's
 * queries are given `ESCAPE '\'` on exactly the LIKE shapes Prisma writes (see likeEscapingAdapter).
 */
import type { SqlDriverAdapterFactory } from '@prisma/client/runtime/client';

/** `text` as a LIKE pattern matching only itself: `\`, `%` and `_` preceded by a backslash. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/** Prisma's SQLite LIKE for contains, startsWith and endsWith: `LIKE ('%' || ? || '%')` and the like. */
const PRISMA_SQLITE_LIKE = / LIKE \((?:'%' \|\| )?\?(?: \|\| '%')?\)/g;

/** Adds `ESCAPE '\'` to each LIKE Prisma wrote in a SQLite statement. */
export function withLikeEscapeClause(sql: string): string {
  return sql.replace(PRISMA_SQLITE_LIKE, (like) => `${like} ESCAPE '\\'`);
}

type SqlQuery = { sql: string };

/** Forwards every member of a connection or transaction, with ESCAPE added to the SQL it runs. */
function escapingQueries<T extends object>(target: T): T {
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property, object);
      if (typeof value !== 'function') return value;
      if (property === 'queryRaw' || property === 'executeRaw') {
        return (query: SqlQuery) => value.call(object, { ...query, sql: withLikeEscapeClause(query.sql) });
      }
      if (property === 'startTransaction') {
        return async (...args: unknown[]) => escapingQueries((await value.apply(object, args)) as object);
      }
      return value.bind(object);
    },
  });
}

/**
 * A SQLite driver adapter whose LIKE treats the backslash as its escape character, as
 * PostgreSQL's does: escapeLike() then means the same on both providers.
 */
export function likeEscapingAdapter(factory: SqlDriverAdapterFactory): SqlDriverAdapterFactory {
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => escapingQueries(await factory.connect()),
  };
}
