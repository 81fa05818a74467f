/**
 * `npm run bench:redis`: what one request costs Redis itself with limits in Redis: its admission
 * (the key's four windows and its budget, in one script, 12 to a tick as under load) and its
 * settlement. Counted by valgrind (callgrind) as instructions Redis executes: the same figure on
 * every run, whatever else the machine is doing, so a change to the scripts can be judged on a
 * shared machine where timings swing by half. Without valgrind it prints the time Redis itself
 * reported for the scripts (INFO commandstats), which is noisy.
 *
 * A private redis-server is started (redis-server on the PATH). Options: --admissions N (default
 * 1,200 measured, after 600 to warm the counters), --keys N (distinct keys, default 100).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { budgetPeriodStart, type Reservation, volatileCeilings } from '@keyward/guard';
import { createRedisLimits } from '@keyward/guard/redis';
import { startPrivateRedis } from './private-redis';

const TICK = 12;
const RATE_LIMITS = { perMinute: 1e9, perHour: 1e9, perDay: 1e9, perMonth: 1e9 };

/** Instructions counted since the last call (callgrind's dumps, then removed). */
function instructionsSince(dir: string, pid: number): number {
  execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore' });
  let total = 0;
  for (const file of fs.readdirSync(dir)) {
    const match = /^(?:summary|totals): (\d+)/m.exec(fs.readFileSync(path.join(dir, file), 'utf8'));
    if (match) total += Number(match[1]);
    fs.unlinkSync(path.join(dir, file));
  }
  return total;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { admissions: { type: 'string', default: '1200' }, keys: { type: 'string', default: '100' } } });
  const admissions = Math.ceil(Number(values.admissions) / TICK) * TICK;
  const keyCount = Number(values.keys);
  const valgrind = spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status === 0;
  const dumps = fs.mkdtempSync(path.join(os.tmpdir(), 'keyward-redis-cost-'));
  const server = await startPrivateRedis(valgrind ? ['valgrind', '--tool=callgrind', `--callgrind-out-file=${dumps}/cg.%p`] : []);
  const client = new Redis(server.url, { commandTimeout: 60_000 });
  try {
    const limits = createRedisLimits({ client, ceilings: volatileCeilings, reservationTtlMs: 600_000, onFailure: () => undefined });
    const admit = limits.admit as NonNullable<typeof limits.admit>;
    const month = budgetPeriodStart('monthly', Date.now());
    const keyId = (i: number) => `bench-key-${i % keyCount}`;
    const budget = (i: number) => ({ keyId: keyId(i), kind: 'budget' as const, periodStart: month, limit: 1e15, amount: 10, baseline: { used: 0, ceiling: 0, periodStart: month } });
    const admitAll = async (n: number): Promise<Reservation[]> => {
      const held: Reservation[] = [];
      for (let i = 0; i < n; i += TICK) {
        const tick = Array.from({ length: TICK }, (_, j) => admit(keyId(i + j), RATE_LIMITS, [budget(i + j)]));
        for (const answer of await Promise.all(tick)) {
          if (!answer.result?.ok) throw new Error('an admission was refused: the figures would not be a request\'s');
          held.push(answer.result.reservations[0]);
        }
      }
      return held;
    };
    const settleAll = async (held: Reservation[]) => {
      for (let i = 0; i < held.length; i += TICK) await Promise.all(held.slice(i, i + TICK).map((reservation) => limits.ledger.settleAll([{ reservation, used: 5 }])));
    };
    const reported = async () => {
      const match = /cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(await client.info('commandstats'));
      await client.config('RESETSTAT');
      return match ? Number(match[1]) : 0;
    };
    const measure = valgrind ? () => Promise.resolve(instructionsSince(dumps, server.process.pid as number)) : reported;

    await settleAll(await admitAll(600)); // counters made, ceilings raised, keys' expiry set
    await measure();
    const held = await admitAll(admissions);
    const admitted = await measure();
    await settleAll(held);
    const settled = await measure();
    await limits.close();

    const unit = valgrind ? 'thousand instructions' : 'µs (INFO commandstats; noisy)';
    const scale = valgrind ? 1000 : 1;
    console.log(`keyward Redis cost: ${admissions.toLocaleString('en-US')} admissions of ${keyCount} keys, ${TICK} a tick, redis-server ${valgrind ? 'under valgrind (callgrind)' : 'as is (no valgrind on the PATH)'}`);
    console.log(`  per admission (4 windows + budget): ${(admitted / admissions / scale).toFixed(1)} ${unit}`);
    console.log(`  per settlement:                     ${(settled / admissions / scale).toFixed(1)} ${unit}`);
    console.log(`  per request:                        ${((admitted + settled) / admissions / scale).toFixed(1)} ${unit}`);
  } finally {
    client.disconnect();
    server.stop();
    fs.rmSync(dumps, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
