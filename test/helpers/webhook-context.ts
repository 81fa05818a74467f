/** Contexts for webhook suites: several may share one database (instances), with short retry delays. */
import type { ResolvedConfig } from '../../src/config';
import { type AppContext, type ContextOverrides, createContext } from '../../src/context';
import { migrate } from '../../src/data/migrations';
import { createLogger } from '../../src/logger';
import { PasswordHasher } from '../../src/auth/password';
import { buildConfig } from './context';
import type { TestDatabase } from './databases';

/** A context on an already created database (migrated here); poll every 25 ms unless told. */
export async function openContext(
  db: TestDatabase,
  overrides: ContextOverrides = {},
  config: Partial<ResolvedConfig> = {},
): Promise<AppContext> {
  await migrate(db.config);
  return createContext(buildConfig(db.config, { webhooks: { allowPrivate: true, pollMs: 25 }, ...config }), {
    logger: createLogger('silent'),
    passwords: new PasswordHasher({ log2N: 10 }),
    webhookDelivery: { retryDelaysMs: [50] },
    ...overrides,
  });
}
