import fs from 'node:fs';
import path from 'node:path';
import { availableProviders, createTestDatabase, tempDir } from '../helpers/databases';
import { freePort, runCli, startServer } from '../helpers/processes';

const SECRETS = { KEY_HASH_SECRET: 'k'.repeat(40), SESSION_SECRET: 's'.repeat(40) };

describe('npm start on a fresh SQLite install', () => {
  it('creates ./data/keyward.db, serves /healthz, names the admin credentials; a restart keeps keys valid and migrates nothing', async () => {
    const cwd = tempDir();
    const port = await freePort();
    const first = await startServer({ cwd, port, env: {} });
    expect(await (await fetch(`${first.url}/healthz`)).json()).toMatchObject({ status: 'ok', checks: { database: { status: 'up' } } });
    expect(fs.existsSync(path.join(cwd, 'data', 'keyward.db'))).toBe(true);
    expect(fs.statSync(path.join(cwd, 'data', 'keyward.secrets.json')).mode & 0o777).toBe(0o600);
    // The database holds key hashes, password hashes and sessions: owner-only, like the secrets.
    expect(fs.statSync(path.join(cwd, 'data')).mode & 0o777).toBe(0o700);
    for (const file of ['keyward.db', 'keyward.db-wal', 'keyward.db-shm']) {
      expect({ file, mode: fs.statSync(path.join(cwd, 'data', file)).mode & 0o777 }).toEqual({ file, mode: 0o600 });
    }
    // JSON lines, written whatever LOG_LEVEL says (the helper runs the server at warn).
    const lines = first
      .stdout()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line.msg)).toContain('applied migration 20261122000000_init');
    expect(lines).toContainEqual(
      expect.objectContaining({
        email: 'admin@keyward.local',
        generatedAdminPassword: expect.stringMatching(/^\S{20,}$/),
        msg: expect.stringMatching(/generated because ADMIN_PASSWORD is unset; shown only this once/),
      }),
    );

    const created = await runCli(['keys', 'create', '--tenant', 'default', '--name', 'x', '--json'], { cwd, env: {} });
    expect(created.code).toBe(0);
    const issued = JSON.parse(created.stdout) as { id: string; key: string };
    expect(Object.keys(issued).sort()).toEqual(['id', 'key']);
    expect(await first.stop()).toBe(0);

    const second = await startServer({ cwd, port, env: {} });
    expect(second.output()).not.toMatch(/applied migration/);
    expect(second.output()).not.toMatch(/generatedAdminPassword/);
    const verified = await runCli(['keys', 'verify', '--json'], { cwd, env: {}, input: issued.key });
    expect(JSON.parse(verified.stdout)).toEqual({ valid: true, id: issued.id });
    expect(await second.stop()).toBe(0);
  });
});

describe.each(availableProviders)('server and CLI on %s', (provider) => {
  it('keys create --json prints exactly {"id","key"}; the key verifies until `keys revoke ID`', async () => {
    const db = await createTestDatabase(provider);
    const cwd = tempDir();
    const env = { DATABASE_URL: db.config.url, ...SECRETS, ADMIN_PASSWORD: 'a very good password' };
    try {
      const server = await startServer({ cwd, port: await freePort(), env });
      expect(server.output()).toMatch(/Created the platform admin admin@keyward\.local \(password from ADMIN_PASSWORD\)/);
      const created = await runCli(['keys', 'create', '--tenant', 'default', '--name', 'x', '--json'], { cwd, env });
      expect(created.stdout.trim().split('\n')).toHaveLength(1);
      const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
      expect(key.startsWith(`kw_${id}_`)).toBe(true);
      expect(JSON.parse((await runCli(['keys', 'verify', '--json'], { cwd, env, input: key })).stdout)).toEqual({ valid: true, id });

      const revoked = await runCli(['keys', 'revoke', id], { cwd, env });
      expect(revoked.code).toBe(0);
      expect(revoked.stdout).toMatch(new RegExp(`Revoked key ${id}`));
      expect(JSON.parse((await runCli(['keys', 'verify', '--json'], { cwd, env, input: key })).stdout)).toEqual({
        valid: false,
        code: 'key_revoked',
      });
      const listed = JSON.parse((await runCli(['keys', 'list', '--tenant', 'default', '--json'], { cwd, env })).stdout);
      expect(listed).toEqual([expect.objectContaining({ id, status: 'revoked', name: 'x' })]);
      expect(await server.stop()).toBe(0);
    } finally {
      await db.drop();
    }
  });
});

describe('CLI administration', () => {
  it('creates tenants and users with roles, and reports bad input with exit code and field', async () => {
    const cwd = tempDir();
    const env = {};
    expect((await runCli(['tenants', 'create', '--name', 'Acme', '--slug', 'acme'], { cwd, env })).code).toBe(0);
    const user = await runCli(
      ['users', 'create', '--email', 'Ops@Acme.test', '--password', 'correct horse battery', '--tenant', 'acme', '--role', 'admin', '--json'],
      { cwd, env },
    );
    expect(user.code).toBe(0);
    expect(JSON.parse(user.stdout)).toMatchObject({ email: 'ops@acme.test', role: 'admin', tenant: 'acme', isPlatformAdmin: false });
    const owned = await runCli(['keys', 'create', '--tenant', 'acme', '--name', 'ci', '--scopes', 'api,keys:read', '--owner', 'ops@acme.test', '--json'], { cwd, env });
    expect(owned.code).toBe(0);

    const taken = await runCli(['tenants', 'create', '--name', 'Again', '--slug', 'acme'], { cwd, env });
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/slug "acme" is taken/);
    const badRole = await runCli(['users', 'create', '--email', 'x@acme.test', '--password', 'correct horse battery', '--tenant', 'acme', '--role', 'boss'], { cwd, env });
    expect(badRole.code).toBe(1);
    expect(badRole.stderr).toMatch(/role: must be one of owner, admin, member/);
    const badScope = await runCli(['keys', 'create', '--tenant', 'acme', '--name', 'x', '--scopes', 'Not Valid'], { cwd, env });
    expect(badScope.stderr).toMatch(/scopes\.0: must be lower-case/);
    const missing = await runCli(['keys', 'create', '--tenant', 'acme'], { cwd, env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--name is required/);
    const unknown = await runCli(['keys', 'revoke', 'AbCd1234EfGh'], { cwd, env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/API key not found/);
  });

  it('refuses to start on PostgreSQL without secrets, naming the variables', async () => {
    const result = await runCli(['migrate'], { cwd: tempDir(), env: { DATABASE_URL: 'postgresql://root@127.0.0.1:1/none' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/KEY_HASH_SECRET is required when DATABASE_URL is PostgreSQL/);
    expect(result.stderr).toMatch(/SESSION_SECRET is required/);
  });
});
