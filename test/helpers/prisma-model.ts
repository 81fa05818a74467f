/**
 * The Prisma schema as tests see it: Prisma's own parser (getDMMF) turned into the tables,
 * columns, indexes and foreign keys each provider's migrations must produce.
 */
import fs from 'node:fs';
import path from 'node:path';
import { getDMMF } from '@prisma/internals';
import type { DatabaseProvider } from '../../src/config';

export const schemaPath = (provider: DatabaseProvider) =>
  path.join(__dirname, '..', '..', 'prisma', provider, 'schema.prisma');

export type Datamodel = Awaited<ReturnType<typeof getDMMF>>['datamodel'];

export async function loadDatamodel(provider: DatabaseProvider): Promise<Datamodel> {
  const dmmf = await getDMMF({ datamodel: fs.readFileSync(schemaPath(provider), 'utf8') });
  return dmmf.datamodel;
}

export interface ExpectedColumn {
  name: string;
  type: string;
  nullable: boolean;
}

export interface ExpectedIndex {
  name: string;
  columns: string[];
  unique: boolean;
  primary: boolean;
}

export interface ExpectedForeignKey {
  columns: string[];
  table: string;
  referencedColumns: string[];
  onDelete: string;
}

export interface ExpectedTable {
  name: string;
  columns: ExpectedColumn[];
  indexes: ExpectedIndex[];
  foreignKeys: ExpectedForeignKey[];
}

/** Prisma's default column type per scalar type and provider (what `prisma migrate` emits). */
function columnType(provider: DatabaseProvider, type: string, nativeType: unknown): string {
  if (provider === 'sqlite') {
    const map: Record<string, string> = {
      String: 'TEXT',
      Int: 'INTEGER',
      BigInt: 'BIGINT',
      Boolean: 'BOOLEAN',
      DateTime: 'DATETIME',
      Json: 'JSONB',
      Float: 'REAL',
    };
    return map[type];
  }
  if (Array.isArray(nativeType)) {
    const [name, args] = nativeType as [string, string[]];
    if (name === 'Timestamptz') return `timestamp(${args[0]}) with time zone`;
    throw new Error(`add native type ${name} to the test's type map`);
  }
  const map: Record<string, string> = {
    String: 'text',
    Int: 'integer',
    BigInt: 'bigint',
    Boolean: 'boolean',
    DateTime: 'timestamp(3) without time zone',
    Json: 'jsonb',
    Float: 'double precision',
  };
  return map[type];
}

function isAutoincrement(fieldDefault: unknown): boolean {
  return (fieldDefault as { name?: string } | undefined)?.name === 'autoincrement';
}

/** What the migrations of `provider` must build, derived from its Prisma schema. */
export async function expectedTables(provider: DatabaseProvider): Promise<ExpectedTable[]> {
  const datamodel = await loadDatamodel(provider);
  const tableOf = new Map(datamodel.models.map((m) => [m.name, m.dbName ?? m.name]));
  return datamodel.models.map((model) => {
    const table = tableOf.get(model.name) as string;
    const columnOf = (field: string) => model.fields.find((f) => f.name === field)?.dbName ?? field;
    const columns = model.fields
      .filter((f) => f.kind === 'scalar')
      .map((f) => ({
        name: f.dbName ?? f.name,
        // SQLite autoincrements only an INTEGER PRIMARY KEY (64-bit), whatever the Prisma type.
        type: provider === 'sqlite' && isAutoincrement(f.default) ? 'INTEGER' : columnType(provider, f.type, f.nativeType),
        nullable: !f.isRequired,
      }));
    const indexes = datamodel.indexes
      .filter((index) => index.model === model.name)
      .map((index) => {
        const cols = index.fields.map((f) => columnOf(f.name));
        const suffix = index.type === 'id' ? 'pkey' : index.type === 'unique' ? 'key' : 'idx';
        return {
          name: index.dbName ?? (index.type === 'id' ? `${table}_pkey` : `${table}_${cols.join('_')}_${suffix}`),
          columns: cols,
          unique: index.type !== 'normal',
          primary: index.type === 'id',
        };
      });
    const foreignKeys = model.fields
      .filter((f) => f.kind === 'object' && f.relationFromFields && f.relationFromFields.length > 0)
      .map((f) => ({
        columns: (f.relationFromFields as string[]).map(columnOf),
        table: tableOf.get(f.type) as string,
        referencedColumns: f.relationToFields as string[],
        onDelete: String(f.relationOnDelete ?? (f.isRequired ? 'Restrict' : 'SetNull')),
      }));
    return { name: table, columns, indexes, foreignKeys };
  });
}
