/** A fully wired AppContext on a throwaway database, plus factories for the records tests need. */
import type { Actor } from '../../src/audit/audit-types';
import { PasswordHasher } from '../../src/auth/password';
import { type DatabaseProvider, parseConfig, type ResolvedConfig } from '../../src/config';
import { type AppContext, createContext } from '../../src/context';
import { migrate } from '../../src/data/migrations';
import { createLogger, type Logger } from '../../src/logger';
import type { Tenant, User } from '../../src/tenants/tenant-types';
import { createTestDatabase, type TestDatabase } from './databases';

export const TEST_SECRET = 'test-key-hash-secret-0123456789abcdefghijklmnop';

export const TEST_API_CONFIG: ResolvedConfig['api'] = {
  usageFlushIntervalMs: 1000,
  keyCacheTtlMs: 30_000,
  invalidKeys: { attempts: 20, windowSeconds: 60, blockSeconds: 300 },
};

export function buildConfig(database: ResolvedConfig['database'], overrides: Partial<ResolvedConfig> = {}): ResolvedConfig {
  return {
    port: 0,
    host: '127.0.0.1',
    database,
    keyHashSecret: TEST_SECRET,
    sessionSecret: 'test-session-secret-0123456789abcdefghijklmnop',
    secretsFile: null,
    admin: { email: 'admin@example.com', password: 'correct horse battery staple' },
    keyPrefix: 'kw',
    logLevel: 'silent',
    trustProxy: false,
    expiredKeyRetentionDays: 30,
    redis: null,
    databaseTimeouts: { connectMs: 3000, queryMs: 10_000 },
    http: { keepAliveTimeoutMs: 65_000, headersTimeoutMs: 66_000, streamIdleTimeoutMs: 30_000, shutdownTimeoutMs: 25_000 },
    management: { ratePerMinute: 600 },
    verify: { ratePerMinute: 60_000 },
    keyChanges: { pollMs: 250 },
    requestLog: { retentionDays: 7 },
    metrics: null,
    webhooks: { allowPrivate: true, pollMs: 1000 },
    logFormat: 'json',
    api: TEST_API_CONFIG,
    dashboard: {
      publicUrl: null,
      sessionIdleMinutes: 30,
      sessionMaxHours: 12,
      loginFailuresPerEmailAndIp: 5,
      loginFailuresPerIpPerDay: 100,
    },
    cors: { origins: [] },
    llm: {
      models: parseConfig({}).llm.models,
      defaultMaxTokens: 1024,
      upstreamTimeoutMs: 10_000,
    },
    ...overrides,
  };
}

export interface TestContext {
  ctx: AppContext;
  db: TestDatabase;
  close(): Promise<void>;
}

/** A migrated database and the services on it. Passwords hash at low cost to keep tests quick. */
export async function createTestContext(
  provider: DatabaseProvider = 'sqlite',
  options: { config?: Partial<ResolvedConfig>; clock?: () => Date; alertWorkers?: boolean; logger?: Logger } = {},
): Promise<TestContext> {
  const db = await createTestDatabase(provider);
  await migrate(db.config);
  const ctx = createContext(buildConfig(db.config, options.config), {
    logger: options.logger ?? createLogger('silent'),
    passwords: new PasswordHasher({ log2N: 10 }),
    clock: options.clock,
    alertWorkers: options.alertWorkers,
  });
  return {
    ctx,
    db,
    close: async () => {
      await ctx.close();
      await db.drop();
    },
  };
}

export const testActor: Actor = { type: 'system', id: null, label: 'test' };

let counter = 0;
function unique(): string {
  counter += 1;
  return `${Date.now().toString(36)}${counter}`;
}

export async function buildTenant(ctx: AppContext, overrides: { name?: string; slug?: string } = {}): Promise<Tenant> {
  const suffix = unique();
  return ctx.tenants.create({ name: overrides.name ?? `Tenant ${suffix}`, slug: overrides.slug ?? `t-${suffix}` }, testActor);
}

export async function buildUser(
  ctx: AppContext,
  tenant: Tenant | null,
  overrides: { email?: string; password?: string; role?: string; isPlatformAdmin?: boolean } = {},
): Promise<User> {
  const user = await ctx.users.create(
    {
      email: overrides.email ?? `user-${unique()}@example.com`,
      password: overrides.password ?? 'a long enough password',
      isPlatformAdmin: overrides.isPlatformAdmin ?? false,
    },
    testActor,
  );
  if (tenant) await ctx.users.setMembership(user.id, tenant.id, overrides.role ?? 'member', testActor);
  return user;
}

/** Create-key input with sensible values; override any field. */
export function buildKeyInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: `key ${unique()}`, ...overrides };
}
