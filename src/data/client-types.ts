/**
 * The Prisma client type the data layer is written against. Both generated clients (SQLite and
 * PostgreSQL) come from one schema and expose the same model API; the PostgreSQL client's type
 * is used for both, and provider-specific query features stay in src/data/dialects.
 */
import type { Prisma, PrismaClient } from '../generated/postgresql/client';

export type Db = PrismaClient;
/** The client handed to code running inside `database.transaction()`. */
export type Tx = Prisma.TransactionClient;
export type { Prisma };
