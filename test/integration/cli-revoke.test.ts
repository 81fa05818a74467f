/**
 * `keys revoke` from the CLI against a running single-instance SQLite app (no Redis): the app
 * hears the change through the key_changes feed and refuses the key it had cached within a
 * second, not after KEY_CACHE_TTL_SECONDS.
 */
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { tempDir } from '../helpers/databases';
import { freePort, runCli, startServer } from '../helpers/processes';

type Answer = { status: number; code: string | null };

async function callModels(url: string, key: string): Promise<Answer> {
  const res = await fetch(`${url}/api/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  const body = (await res.json().catch(() => null)) as { error?: { code: string } } | null;
  return { status: res.status, code: body?.error?.code ?? null };
}

/** When the CLI's transaction wrote the revocation's change record. */
function revocationRecordedAt(cwd: string, keyId: string): number {
  const db = new BetterSqlite3(path.join(cwd, 'data', 'keyward.db'), { readonly: true });
  try {
    const row = db.prepare(`SELECT "createdAt" FROM "key_changes" WHERE "keyId" = ? AND "kind" = 'revoked'`).get(keyId) as { createdAt: string };
    return new Date(row.createdAt).getTime();
  } finally {
    db.close();
  }
}

describe('the CLI revokes a key while the app runs (SQLite, no Redis)', () => {
  it('the app refuses the cached key with 401 key_revoked within 1 s of the CLI exiting', async () => {
    const cwd = tempDir();
    const server = await startServer({ cwd, port: await freePort(), env: { KEY_CACHE_TTL_SECONDS: '30' } });
    try {
      const created = await runCli(['keys', 'create', '--tenant', 'default', '--name', 'x', '--json'], { cwd, env: {} });
      expect(created.code).toBe(0);
      const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
      // Once it has answered 200 the app has the key in its cache.
      expect(await callModels(server.url, key)).toEqual({ status: 200, code: null });

      // Calls the app while the CLI runs and after, until the first refusal for revocation. The
      // key is tier free (10 calls a minute), so it soon answers 429: still accepted as a key.
      // Revocation is checked before rate limits, so 401 key_revoked is the refusal to wait for.
      let exitedAt = Number.POSITIVE_INFINITY;
      const refusal = (async () => {
        for (;;) {
          const answer = await callModels(server.url, key).catch(() => ({ status: 0, code: 'connection_failed' }));
          if ((answer.status === 401 && answer.code === 'key_revoked') || Date.now() - exitedAt > 2000) {
            return { answer, at: Date.now() };
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const revoked = await runCli(['keys', 'revoke', id], { cwd, env: {} });
      exitedAt = Date.now();
      // On failure the CLI's own message is shown.
      expect({ code: revoked.code, stderr: revoked.code === 0 ? '' : revoked.stderr }).toEqual({ code: 0, stderr: '' });
      const { answer, at } = await refusal;
      expect(answer).toEqual({ status: 401, code: 'key_revoked' });
      // Often refused before the CLI has even exited (it closes its database first).
      expect(at - exitedAt).toBeLessThanOrEqual(1000);
      expect(at - revocationRecordedAt(cwd, id)).toBeLessThanOrEqual(1000);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
