/**
 * What one usage write costs with and without the visibility tables (outcome rollups, model
 * spend, request log, client addresses), for a batch of N requests over K keys (default 1,000 over
 * 100: 80 % admitted, 20 % refused, each key used from A client addresses, default 2). Prints the
 * median time of each write and the median CPU this process spent on it (on SQLite that is nearly
 * all of the cost, the writer thread's included; a shared machine's load moves the times more than
 * the CPU), their ratios, and what the request log's rows cost apart (one per request: the part of
 * the write that grows with traffic rather than with keys).
 *
 *   node dist/bench/usage-write-bench.js                       # SQLite, a temporary file
 *   node dist/bench/usage-write-bench.js --postgres postgresql://root@127.0.0.1:5432/test
 *       (a database of its own is created on that server and dropped afterwards)
 * Options: --rounds R (default 15), --requests N, --keys K, --addresses A.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { systemActor } from '../audit/audit-types';
import { parseConfig, type ResolvedConfig } from '../config';
import { createContext } from '../context';
import { migrate } from '../data/migrations';
import { writeUsageBatch } from '../data/repositories/usage';
import { createLogger } from '../logger';
import { emptyUsageBatch, type UsageBatch } from '../usage/usage-batch';
import { UsageBuffer } from '../usage/usage-buffer';
import { REFUSAL_OUTCOMES } from '@keyward/guard';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function batchOf(keys: { id: string; tenantId: string }[], requests: number, addresses: number, at: number): Promise<UsageBatch> {
  let captured: UsageBatch = emptyUsageBatch();
  const buffer = new UsageBuffer({ write: async (batch) => void (captured = batch) });
  for (let i = 0; i < requests; i++) {
    const key = keys[i % keys.length];
    const facts = {
      keyId: key.id,
      tenantId: key.tenantId,
      at: at + i,
      status: 200,
      ip: `203.0.113.${Math.floor(i / keys.length) % addresses}`,
      model: 'local-small',
      chatbot: null,
      latencyMs: 3,
      requestId: randomBytes(8).toString('hex'),
      userAgent: 'bench/1.0',
    };
    if (i % 5 === 4) buffer.refused({ ...facts, status: 429, outcome: REFUSAL_OUTCOMES[i % REFUSAL_OUTCOMES.length] });
    else buffer.record({ ...facts, ok: true, outcome: 'ok', tokens: 120, costMicroCents: 15_780, budgetPeriodStart: null });
  }
  await buffer.flush();
  return captured;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      postgres: { type: 'string' },
      rounds: { type: 'string', default: '15' },
      requests: { type: 'string', default: '1000' },
      keys: { type: 'string', default: '100' },
      addresses: { type: 'string', default: '2' },
    },
  });
  const rounds = Number(values.rounds);
  const requests = Number(values.requests);
  const keyCount = Number(values.keys);
  const addresses = Number(values.addresses);
  let url: string;
  let cleanup: () => Promise<void>;
  if (values.postgres) {
    const name = `keyward_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: values.postgres });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const target = new URL(values.postgres);
    target.pathname = `/${name}`;
    url = target.toString();
    cleanup = async () => {
      const client = new pg.Client({ connectionString: values.postgres });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    };
  } else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyward-usage-bench-'));
    url = `file:${path.join(dir, 'bench.db')}`;
    cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
  }
  try {
    await measure(url, { rounds, requests, keyCount, addresses });
  } finally {
    await cleanup();
  }
}

async function measure(url: string, { rounds, requests, keyCount, addresses }: { rounds: number; requests: number; keyCount: number; addresses: number }) {
  const base = parseConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent', KEY_HASH_SECRET: 'b'.repeat(48), SESSION_SECRET: 's'.repeat(48) });
  const config: ResolvedConfig = { ...base, keyHashSecret: 'b'.repeat(48), sessionSecret: 's'.repeat(48), secretsFile: null };
  await migrate(config.database);
  const ctx = createContext(config, { logger: createLogger('silent'), keyChangeFeed: false, alertWorkers: false });
  try {
    const actor = systemActor('bench');
    const tenant = await ctx.tenants.create({ name: 'Bench', slug: 'bench' }, actor);
    const keys = [];
    for (let i = 0; i < keyCount; i++) keys.push((await ctx.keys.create(tenant.id, { name: `k${i}` }, actor)).apiKey);
    // Each arm writes its part of the round's batch (under an id of its own).
    const newArm = (label: string, of: (batch: UsageBatch) => UsageBatch) => ({ label, of, ms: [] as number[], cpu: [] as number[] });
    const usageOnly = newArm('usage only (before issue 10)', (b) => ({ ...emptyUsageBatch(), keys: b.keys, hourly: b.hourly, daily: b.daily }));
    const withoutLog = newArm('with outcomes, models, addresses; no request log', (b) => ({ ...b, id: emptyUsageBatch().id, requestLog: [] }));
    const full = newArm('with outcomes, models, request log, addresses', (b) => b);
    const arms = [usageOnly, withoutLog, full];
    for (let round = 0; round < rounds; round++) {
      const batch = await batchOf(keys, requests, addresses, Date.now());
      // Each round starts with another arm, so none always meets a warmer cache.
      for (let i = 0; i < arms.length; i++) {
        const arm = arms[(round + i) % arms.length];
        const started = performance.now();
        const cpu = process.cpuUsage();
        await writeUsageBatch(ctx.database, arm.of(batch));
        const used = process.cpuUsage(cpu);
        arm.ms.push(performance.now() - started);
        arm.cpu.push((used.user + used.system) / 1000);
      }
    }
    const sample = await batchOf(keys, requests, addresses, Date.now());
    const rows = (b: UsageBatch) =>
      b.keys.length + b.hourly.length + b.daily.length + b.outcomesHourly.length + b.outcomesDaily.length + b.models.length + b.requestLog.length + b.clientAddresses.length;
    const line = (arm: (typeof arms)[number]) => `  ${arm.label}: median ${median(arm.ms).toFixed(1)} ms, CPU here ${median(arm.cpu).toFixed(1)} ms\n`;
    // Per round, so that both sides of the difference come from the same moment of a noisy machine.
    const logCpu = median(full.cpu.map((cpu, i) => cpu - withoutLog.cpu[i]));
    const logMs = median(full.ms.map((ms, i) => ms - withoutLog.ms[i]));
    const perRow = (ms: number) => ((ms * 1000) / sample.requestLog.length).toFixed(1);
    // On PostgreSQL the server does the inserting: this process's CPU is only the sending.
    const cpuWhose = config.database.provider === 'sqlite' ? 'CPU' : "the app's CPU (the server's is not counted)";
    process.stdout.write(
      `${config.database.provider}: ${requests} requests over ${keyCount} keys from ${addresses} addresses each, ${rounds} rounds ` +
        `(rows per batch: usage only ${sample.keys.length + sample.hourly.length + sample.daily.length}, with visibility ${rows(sample)}, of them ${sample.requestLog.length} request-log rows)\n` +
        arms.map(line).join('') +
        `  ratios: time ${(median(full.ms) / median(usageOnly.ms)).toFixed(2)}, CPU ${(median(full.cpu) / median(usageOnly.cpu)).toFixed(2)}\n` +
        `  request log, per row (the full write less the write without it, median of rounds): ${perRow(logMs)} µs of time, ` +
        `${perRow(logCpu)} µs of ${cpuWhose}, ${((100 * logCpu) / median(full.cpu)).toFixed(0)}% of the full write's\n`,
    );
  } finally {
    await ctx.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
