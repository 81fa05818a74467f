/**
 * The CLI as a script uses it: `users set-password` (password from stdin or --generate, never
 * argv; the old password stops working and every session of the person ends, audited) and
 * `keys create` with the options a script needs, validated by the key service.
 */
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { PasswordHasher } from '../../src/auth/password';
import { tempDir } from '../helpers/databases';
import { runCli } from '../helpers/processes';

const OLD_PASSWORD = 'the old password 123';
const hasher = new PasswordHasher();

/** A fresh SQLite install with ops@acme.test (password OLD_PASSWORD) and two sessions of theirs. */
async function install() {
  const cwd = tempDir();
  const env = {};
  const created = await runCli(['users', 'create', '--email', 'ops@acme.test', '--password', OLD_PASSWORD, '--tenant', 'default', '--role', 'admin', '--json'], { cwd, env });
  expect(created.code).toBe(0);
  const { id } = JSON.parse(created.stdout) as { id: string };
  const file = path.join(cwd, 'data', 'keyward.db');
  const db = new BetterSqlite3(file);
  const insert = db.prepare('INSERT INTO sessions (sid, data, userId, expiresAt, createdAt) VALUES (?, ?, ?, ?, ?)');
  const later = Date.now() + 3_600_000;
  insert.run('sid-ops-1', JSON.stringify({ userId: id }), id, later, Date.now());
  insert.run('sid-ops-2', JSON.stringify({ userId: id }), id, later, Date.now());
  insert.run('sid-someone-else', JSON.stringify({ userId: 'someone' }), 'someone', later, Date.now());
  db.close();
  const read = () => {
    const conn = new BetterSqlite3(file, { readonly: true });
    try {
      return {
        hash: (conn.prepare('SELECT passwordHash FROM users WHERE id = ?').get(id) as { passwordHash: string }).passwordHash,
        sessions: (conn.prepare('SELECT sid FROM sessions ORDER BY sid').all() as { sid: string }[]).map((r) => r.sid),
        audit: conn.prepare("SELECT actorType, actorLabel, targetId FROM audit_events WHERE action = 'user.password_set'").all(),
      };
    } finally {
      conn.close();
    }
  };
  return { cwd, env, id, read };
}

describe('users set-password', () => {
  it('reads the new password from stdin: the old one stops working, their sessions end, an audit event is written', async () => {
    const { cwd, env, id, read } = await install();
    const result = await runCli(['users', 'set-password', '--email', 'OPS@acme.test'], { cwd, env, input: 'a brand new passphrase\n' });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Set a new password for ops@acme\.test; every dashboard session of theirs has ended\./);
    expect(result.stdout).not.toContain('a brand new passphrase');

    const after = read();
    expect(await hasher.verify(OLD_PASSWORD, after.hash)).toBe(false);
    expect(await hasher.verify('a brand new passphrase', after.hash)).toBe(true); // the final newline is not part of it
    expect(after.sessions).toEqual(['sid-someone-else']);
    expect(after.audit).toEqual([{ actorType: 'system', actorLabel: 'cli', targetId: id }]);
  });

  it('--generate makes a strong password and prints it once (--json: one document)', async () => {
    const { cwd, env, id, read } = await install();
    const result = await runCli(['users', 'set-password', '--email', 'ops@acme.test', '--generate', '--json'], { cwd, env });
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    const printed = JSON.parse(result.stdout) as { id: string; email: string; password: string };
    expect(printed).toEqual({ id, email: 'ops@acme.test', password: expect.stringMatching(/^[A-Za-z0-9_-]{24}$/) });

    const after = read();
    expect(await hasher.verify(printed.password, after.hash)).toBe(true);
    expect(await hasher.verify(OLD_PASSWORD, after.hash)).toBe(false);
    expect(after.sessions).toEqual(['sid-someone-else']);
    expect(after.audit).toHaveLength(1);
  });

  it('refuses a password in argv, empty or multi-line input, a short password and an unknown email; nothing changes', async () => {
    const { cwd, env, read } = await install();
    const before = read();
    const cases = [
      { args: ['--password', 'a brand new passphrase'], input: '', code: 2, message: /reads the new password from standard input, never from the command line/ },
      { args: [], input: '', code: 2, message: /No password on standard input; nothing was changed\. Pipe one line, e\.g\. `printf/ },
      { args: [], input: '\n', code: 2, message: /No password on standard input/ },
      { args: [], input: 'first line\nsecond line\n', code: 2, message: /must be one line/ },
      { args: [], input: 'short\n', code: 1, message: /newPassword: must be at least 12 characters/ },
    ];
    for (const c of cases) {
      const result = await runCli(['users', 'set-password', '--email', 'ops@acme.test', ...c.args], { cwd, env, input: c.input });
      expect({ args: c.args, input: c.input, code: result.code }).toEqual({ args: c.args, input: c.input, code: c.code });
      expect(result.stderr).toMatch(c.message);
      expect(result.stdout).toBe('');
    }
    const unknown = await runCli(['users', 'set-password', '--email', 'nobody@acme.test'], { cwd, env, input: 'a brand new passphrase\n' });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/User not found/);
    expect(read()).toEqual(before);
  });
});

describe('keys create options', () => {
  it('sets tier, expiry, quota, budget, description, tags, allowed IPs and models', async () => {
    const cwd = tempDir();
    const env = {};
    const result = await runCli(
      [
        'keys', 'create', '--tenant', 'default', '--name', 'scripted', '--scopes', 'admin', '--tier', 'enterprise',
        '--expires-in-days', '30', '--usage-limit', '1000', '--budget-cents', '500', '--budget-period', 'monthly',
        '--description', 'made by a script', '--tags', 'ci, nightly', '--allowed-ips', '10.0.0.0/8,192.0.2.7',
        '--allowed-models', 'local-small', '--json',
      ],
      { cwd, env },
    );
    expect(result.code).toBe(0);
    const { id } = JSON.parse(result.stdout) as { id: string };
    const db = new BetterSqlite3(path.join(cwd, 'data', 'keyward.db'), { readonly: true });
    const key = db
      .prepare('SELECT tier, scopes, usageLimit, budgetLimitCents, budgetPeriod, description, allowedIps, allowedModels, expiresAt, createdAt FROM api_keys WHERE id = ?')
      .get(id) as Record<string, unknown>;
    const tags = (db.prepare('SELECT tag FROM api_key_tags WHERE keyId = ? ORDER BY tag').all(id) as { tag: string }[]).map((r) => r.tag);
    db.close();
    expect(key).toMatchObject({ tier: 'enterprise', usageLimit: 1000, budgetLimitCents: 500, budgetPeriod: 'monthly', description: 'made by a script' });
    expect(JSON.parse(key.scopes as string)).toEqual(['admin']);
    expect(JSON.parse(key.allowedIps as string)).toEqual(['10.0.0.0/8', '192.0.2.7']);
    expect(JSON.parse(key.allowedModels as string)).toEqual(['local-small']);
    expect(tags).toEqual(['ci', 'nightly']);
    const days = (Number(new Date(key.expiresAt as number)) - Number(new Date(key.createdAt as number))) / 86_400_000;
    expect(Math.round(days)).toBe(30);
  });

  it('sets token limits, max concurrent requests and the quota period', async () => {
    const cwd = tempDir();
    const result = await runCli(
      [
        'keys', 'create', '--tenant', 'default', '--name', 'governed', '--usage-limit', '100', '--quota-period', 'daily',
        '--tokens-per-minute', '2000', '--tokens-per-day', '5000000000', '--max-concurrent', '4', '--json',
      ],
      { cwd, env: {} },
    );
    expect(result.code).toBe(0);
    const { id } = JSON.parse(result.stdout) as { id: string };
    const db = new BetterSqlite3(path.join(cwd, 'data', 'keyward.db'), { readonly: true });
    db.defaultSafeIntegers(true);
    const key = db
      .prepare('SELECT usageLimit, usageLimitPeriod, tokenLimitPerMinute, tokenLimitPerDay, maxConcurrentRequests, notifyOnNewIp FROM api_keys WHERE id = ?')
      .get(id) as Record<string, unknown>;
    db.close();
    expect(key).toEqual({
      usageLimit: 100n,
      usageLimitPeriod: 'daily',
      tokenLimitPerMinute: 2000n,
      tokenLimitPerDay: 5_000_000_000n,
      maxConcurrentRequests: 4n,
      notifyOnNewIp: 0n,
    });
  });

  it('bad values exit 1 with the field named, and create nothing', async () => {
    const cwd = tempDir();
    const env = {};
    const cases: [string[], RegExp][] = [
      [['--tier', 'platinum'], /tier: must be one of free, pro, enterprise/],
      [['--expires-in-days', 'soon'], /expiresInDays: must be a number/],
      [['--expires-in-days', '400'], /expiresInDays: must be at most 365/],
      [['--usage-limit', '0'], /usageLimit: must be at least 1/],
      [['--usage-limit', '2.5'], /usageLimit: must be a whole number/],
      [['--budget-cents', '500'], /budget\.period: must be "total" or "monthly"/],
      [['--budget-cents', '500', '--budget-period', 'weekly'], /budget\.period: must be "total" or "monthly"/],
      [['--budget-period', 'total'], /budget\.limitCents: must be a number/],
      [['--quota-period', 'weekly'], /usageLimitPeriod: must be one of total, daily, monthly/],
      [['--tokens-per-minute', '0'], /tokenLimits\.perMinute: must be at least 1/],
      [['--tokens-per-day', 'lots'], /tokenLimits\.perDay: must be a number/],
      [['--max-concurrent', '100001'], /maxConcurrentRequests: must be at most 100,000/],
      [['--allowed-ips', '10.0.0.300'], /allowedIps\.0: "10\.0\.0\.300" is not an IPv4\/IPv6 address or CIDR range/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['keys', 'create', '--tenant', 'default', '--name', 'bad', ...args], { cwd, env });
      expect({ args, code: result.code }).toEqual({ args, code: 1 });
      expect(result.stderr).toMatch(message);
    }
    const listed = await runCli(['keys', 'list', '--tenant', 'default', '--json'], { cwd, env });
    expect(JSON.parse(listed.stdout)).toEqual([]);
  }, 120_000); // 15 CLI processes, one after another: seconds each on a busy 2-core machine
});
