/** Real app processes for the scale suites: instances on one database and one Redis, serving a metered upstream's model. */
import fs from 'node:fs';
import path from 'node:path';
import { TEST_SECRET } from './context';
import { type TestDatabase, tempDir } from './databases';
import type { FakeUpstream } from './fake-upstream';
import { freePort, type ServerProcess, startServer } from './processes';
import type { TestRedis } from './redis';

/** Starts `count` instances (one after the other) whose catalog holds `model`, answered by `upstream`. */
export async function startMeteredInstances(options: {
  count: number;
  db: TestDatabase;
  redis: TestRedis;
  upstream: FakeUpstream;
  model: string;
  env?: Record<string, string>;
}): Promise<ServerProcess[]> {
  const catalog = path.join(tempDir(), 'models.json');
  fs.writeFileSync(catalog, JSON.stringify({ models: [options.upstream.catalogModel(options.model)] }));
  const env = {
    DATABASE_URL: options.db.config.url,
    REDIS_URL: options.redis.url,
    KEY_HASH_SECRET: TEST_SECRET,
    SESSION_SECRET: 's'.repeat(48),
    ADMIN_PASSWORD: 'a very good password',
    MODEL_CATALOG_PATH: catalog,
    USAGE_FLUSH_INTERVAL_MS: '200',
    // These suites check exactness under a flood of concurrent requests on a shared 2-core
    // machine, not Redis faults (redis-faults.test.ts does): a 250 ms command timeout would turn
    // a busy moment into 503 limits_unavailable.
    REDIS_COMMAND_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'error',
    ...options.env,
  };
  const instances: ServerProcess[] = [];
  for (let i = 0; i < options.count; i++) instances.push(await startServer({ cwd: tempDir(), port: await freePort(), env }));
  return instances;
}
