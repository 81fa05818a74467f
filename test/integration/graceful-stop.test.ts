/**
 * A real server process stopped with SIGTERM in the middle of load: it stops accepting, finishes
 * what it accepted, writes the buffered usage, and exits 0 - every answered request is counted.
 */
import BetterSqlite3 from 'better-sqlite3';
import path from 'node:path';
import { tempDir } from '../helpers/databases';
import { freePort, runCli, startServer } from '../helpers/processes';

it('SIGTERM under load: exit 0 and every answered request counted', async () => {
  const cwd = tempDir();
  const env = { ADMIN_PASSWORD: 'a very good password', USAGE_FLUSH_INTERVAL_MS: '1000' };
  const created = await runCli(['keys', 'create', '--tenant', 'default', '--name', 'load', '--json'], { cwd, env });
  const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
  // Give the key room: the default free tier allows 10 requests a minute.
  const db = new BetterSqlite3(path.join(cwd, 'data', 'keyward.db'));
  db.prepare('UPDATE api_keys SET tier = ? WHERE id = ?').run('enterprise', id);
  db.close();

  const server = await startServer({ cwd, port: await freePort(), env });
  let answered = 0;
  let failedAfterStop = 0;
  let stopped = false;
  const exited = new Promise<number | null>((resolve) => server.child.on('exit', (code) => resolve(code)));

  const worker = async () => {
    for (let i = 0; i < 40; i++) {
      try {
        const res = await fetch(`${server.url}/api/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'local-small', stream: true, messages: [{ role: 'user', content: 'count me '.repeat(30) }] }),
        });
        const text = await res.text();
        if (res.status !== 200 || !text.includes('data: [DONE]')) throw new Error(`unexpected ${res.status}`);
        answered += 1;
      } catch {
        if (!stopped) throw new Error('a request failed before SIGTERM');
        failedAfterStop += 1;
      }
      if (answered === 60 && !stopped) {
        stopped = true;
        server.child.kill('SIGTERM');
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  expect(stopped).toBe(true);
  expect(await exited).toBe(0);
  expect(answered).toBeGreaterThanOrEqual(60);
  expect(failedAfterStop).toBeGreaterThan(0);

  const after = new BetterSqlite3(path.join(cwd, 'data', 'keyward.db'), { readonly: true });
  const row = after.prepare('SELECT requestsOk, requestsFailed FROM api_keys WHERE id = ?').get(id) as { requestsOk: number; requestsFailed: number };
  const hourly = after.prepare('SELECT SUM(requestsOk) AS ok FROM usage_hourly WHERE keyId = ?').get(id) as { ok: number };
  after.close();
  expect(row).toEqual({ requestsOk: answered, requestsFailed: 0 });
  expect(hourly.ok).toBe(answered);
}, 60_000);
