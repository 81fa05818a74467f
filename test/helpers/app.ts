/** An app on a throwaway database with a tenant, and a factory for keys on it. */
import type { Express } from 'express';
import { createApp } from '../../src/app';
import type { DatabaseProvider, ResolvedConfig } from '../../src/config';
import type { ApiKeyRecord } from '../../packages/guard/src/keys/key-types';
import type { Tenant } from '../../src/tenants/tenant-types';
import { buildKeyInput, buildTenant, createTestContext, type TestContext, testActor } from './context';

export interface TestApp extends TestContext {
  app: Express;
  tenant: Tenant;
  /** Issues a key in the tenant (scope `api` unless given) and returns the secret and record. */
  issue(input?: Record<string, unknown>): Promise<{ key: string; apiKey: ApiKeyRecord }>;
}

export async function createTestApp(
  provider: DatabaseProvider = 'sqlite',
  options: { config?: Partial<ResolvedConfig>; clock?: () => Date; alertWorkers?: boolean } = {},
): Promise<TestApp> {
  const t = await createTestContext(provider, options);
  const tenant = await buildTenant(t.ctx);
  return {
    ...t,
    app: createApp(t.ctx),
    tenant,
    issue: (input = {}) => t.ctx.keys.create(tenant.id, buildKeyInput(input), testActor),
  };
}

export const chatBody = (overrides: Record<string, unknown> = {}) => ({
  model: 'local-small',
  messages: [{ role: 'user', content: 'Hello there' }],
  max_tokens: 16,
  ...overrides,
});
