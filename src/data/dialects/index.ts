import type { DatabaseProvider } from '../../config';
import type { Dialect } from './dialect';
import { postgresqlDialect } from './postgresql';
import { sqliteDialect } from './sqlite';

/** The one place a provider is turned into its strategy. */
export function dialectFor(provider: DatabaseProvider): Dialect {
  return provider === 'postgresql' ? postgresqlDialect : sqliteDialect;
}
