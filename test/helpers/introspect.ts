/** Reads back what migrations built, in the same shape as helpers/prisma-model.ts expects. */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { DatabaseConfig } from '../../src/config';
import type { ExpectedTable } from './prisma-model';

const SQLITE_ACTIONS: Record<string, string> = {
  CASCADE: 'Cascade',
  'SET NULL': 'SetNull',
  RESTRICT: 'Restrict',
  'NO ACTION': 'NoAction',
  'SET DEFAULT': 'SetDefault',
};
const PG_ACTIONS: Record<string, string> = { c: 'Cascade', n: 'SetNull', r: 'Restrict', a: 'NoAction', d: 'SetDefault' };

export async function introspect(config: DatabaseConfig): Promise<ExpectedTable[]> {
  return config.provider === 'sqlite' ? introspectSqlite(config.sqlitePath as string) : introspectPostgres(config.url);
}

function introspectSqlite(file: string): ExpectedTable[] {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    // Ordinary tables only: the key search's FTS5 table and its shadow tables are outside the
    // Prisma model (a migration creates them; test/integration/key-search-index.test.ts checks them).
    const tables = (db.prepare('PRAGMA table_list').all() as { schema: string; name: string; type: string }[]).filter(
      (t) => t.schema === 'main' && t.type === 'table' && !t.name.startsWith('sqlite_') && t.name !== '_prisma_migrations',
    );
    return tables.map(({ name }) => {
      const info = db.prepare(`PRAGMA table_info("${name}")`).all() as { name: string; type: string; notnull: number; pk: number }[];
      const primary = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
      const indexList = db.prepare(`PRAGMA index_list("${name}")`).all() as { name: string; unique: number; origin: string }[];
      const indexes = indexList
        .filter((index) => index.origin !== 'pk')
        .map((index) => ({
          name: index.name,
          columns: (db.prepare(`PRAGMA index_info("${index.name}")`).all() as { seqno: number; name: string }[])
            .sort((a, b) => a.seqno - b.seqno)
            .map((c) => c.name),
          unique: index.unique === 1,
          primary: false,
        }));
      indexes.push({ name: `${name}_pkey`, columns: primary, unique: true, primary: true });
      const fkRows = db.prepare(`PRAGMA foreign_key_list("${name}")`).all() as {
        id: number;
        seq: number;
        table: string;
        from: string;
        to: string;
        on_delete: string;
      }[];
      const foreignKeys = [...new Set(fkRows.map((r) => r.id))].map((id) => {
        const rows = fkRows.filter((r) => r.id === id).sort((a, b) => a.seq - b.seq);
        return {
          columns: rows.map((r) => r.from),
          table: rows[0].table,
          referencedColumns: rows.map((r) => r.to),
          onDelete: SQLITE_ACTIONS[rows[0].on_delete],
        };
      });
      return {
        name,
        columns: info.map((c) => ({ name: c.name, type: c.type, nullable: c.notnull === 0 })),
        indexes,
        foreignKeys,
      };
    });
  } finally {
    db.close();
  }
}

async function introspectPostgres(url: string): Promise<ExpectedTable[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'",
    );
    const result: ExpectedTable[] = [];
    for (const { name } of tables) {
      const { rows: columns } = await client.query<{ name: string; type: string; nullable: boolean }>(
        `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`,
        [name],
      );
      const { rows: indexes } = await client.query<{ name: string; columns: string[]; unique: boolean; primary: boolean }>(
        `SELECT i.relname AS name, ix.indisunique AS unique, ix.indisprimary AS primary,
                array_agg(a.attname::text ORDER BY k.ord) AS columns
           FROM pg_index ix
           JOIN pg_class t ON t.oid = ix.indrelid
           JOIN pg_class i ON i.oid = ix.indexrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
          WHERE n.nspname = 'public' AND t.relname = $1
          GROUP BY i.relname, ix.indisunique, ix.indisprimary`,
        [name],
      );
      const { rows: foreignKeys } = await client.query<{
        columns: string[];
        table: string;
        referencedColumns: string[];
        action: string;
      }>(
        `SELECT array_agg(a.attname::text ORDER BY k.ord) AS columns, rt.relname AS table,
                array_agg(ra.attname::text ORDER BY k.ord) AS "referencedColumns", con.confdeltype AS action
           FROM pg_constraint con
           JOIN pg_class t ON t.oid = con.conrelid
           JOIN pg_class rt ON rt.oid = con.confrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
           JOIN pg_attribute ra ON ra.attrelid = rt.oid AND ra.attnum = k.refnum
          WHERE con.contype = 'f' AND n.nspname = 'public' AND t.relname = $1
          GROUP BY con.oid, rt.relname, con.confdeltype`,
        [name],
      );
      result.push({
        name,
        columns,
        indexes,
        foreignKeys: foreignKeys.map((fk) => ({
          columns: fk.columns,
          table: fk.table,
          referencedColumns: fk.referencedColumns,
          onDelete: PG_ACTIONS[fk.action],
        })),
      });
    }
    return result;
  } finally {
    await client.end();
  }
}

/** Sorts tables and their parts so two descriptions compare equal regardless of order. */
export function canonical(tables: ExpectedTable[]): ExpectedTable[] {
  const byJson = <T>(a: T, b: T) => JSON.stringify(a).localeCompare(JSON.stringify(b));
  return [...tables]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((t) => ({
      name: t.name,
      columns: [...t.columns].sort((a, b) => a.name.localeCompare(b.name)),
      indexes: [...t.indexes].sort(byJson),
      foreignKeys: [...t.foreignKeys].sort(byJson),
    }));
}
