import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, parseConfig } from '../../src/config';
import { resolveSecrets, secretsFilePath } from '../../src/config/local-secrets';
import { tempDir } from '../helpers/databases';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    parseConfig(env, '/srv/app');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const SECRET = 'x'.repeat(40);

describe('config', () => {
  it('has working defaults: SQLite in ./data, port 3000, prefix kw, no trusted proxy', () => {
    const config = parseConfig({}, '/srv/app');
    expect(config).toMatchObject({
      port: 3000,
      database: { provider: 'sqlite', sqlitePath: '/srv/app/data/keyward.db', url: 'file:/srv/app/data/keyward.db' },
      keyPrefix: 'kw',
      logLevel: 'info',
      trustProxy: false,
      admin: { email: 'admin@keyward.local', password: undefined },
    });
  });

  it('selects PostgreSQL by URL scheme and then requires both secrets, naming each', () => {
    const problems = problemsOf({ DATABASE_URL: 'postgresql://root@127.0.0.1:5432/app' });
    expect(problems.join('\n')).toMatch(/KEY_HASH_SECRET is required when DATABASE_URL is PostgreSQL/);
    expect(problems.join('\n')).toMatch(/SESSION_SECRET is required/);
    const config = parseConfig({ DATABASE_URL: 'postgres://db/app', KEY_HASH_SECRET: SECRET, SESSION_SECRET: SECRET });
    expect(config.database.provider).toBe('postgresql');
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT must be a port number/],
    [{ PORT: '70000' }, /PORT must be a port number/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL must start with file:/],
    [{ KEY_HASH_SECRET: 'short' }, /KEY_HASH_SECRET is too short/],
    [{ SESSION_SECRET: 'short' }, /SESSION_SECRET is too short/],
    [{ ADMIN_EMAIL: 'nope' }, /ADMIN_EMAIL must be an email address/],
    [{ ADMIN_PASSWORD: 'short' }, /ADMIN_PASSWORD must be at least 12 characters/],
    [{ KEY_PREFIX: 'Key_' }, /KEY_PREFIX must be 1-16 lower-case letters/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ TRUST_PROXY: 'true' }, /TRUST_PROXY=true would trust any client-supplied X-Forwarded-For/],
    [{ TRUST_PROXY: '10.0.0.0/8,banana' }, /TRUST_PROXY has invalid entries \(banana\)/],
    [{ EXPIRED_KEY_RETENTION_DAYS: '-1' }, /EXPIRED_KEY_RETENTION_DAYS must be a whole number/],
  ])('refuses %p with a message naming the variable', (env, message) => {
    expect(problemsOf(env as NodeJS.ProcessEnv).join('\n')).toMatch(message);
  });

  it('parses TRUST_PROXY as a hop count or a list of proxies', () => {
    expect(parseConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(parseConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toEqual(['loopback', '10.0.0.0/8']);
    expect(parseConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
  });

  it('reads .env from the working directory without overriding the environment', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, '.env'), 'PORT=4321\nKEY_PREFIX=acme\n');
    const config = loadConfig({ KEY_PREFIX: 'envwins' }, dir);
    expect(config.port).toBe(4321);
    expect(config.keyPrefix).toBe('envwins');
  });

  it('documents every variable it reads in .env.example', () => {
    const example = fs.readFileSync(path.join(__dirname, '../../.env.example'), 'utf8');
    const source = fs.readFileSync(path.join(__dirname, '../../src/config/index.ts'), 'utf8');
    const schema = source.slice(source.indexOf('const envSchema'), source.indexOf('export function loadConfig'));
    const names = [...schema.matchAll(/^\s{2}([A-Z_]+):/gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(8);
    for (const name of names) expect(example).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
  });
});

describe('SQLite-local secrets', () => {
  it('generates both secrets once, in a 0600 file beside the database, and reuses them', () => {
    const dir = tempDir();
    const config = parseConfig({ DATABASE_URL: `file:${dir}/sub/keyward.db` });
    const first = resolveSecrets(config);
    const file = secretsFilePath(config.database.sqlitePath as string);
    expect(first.secretsFile).toBe(file);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(first.keyHashSecret.length).toBeGreaterThanOrEqual(32);
    expect(first.sessionSecret).not.toBe(first.keyHashSecret);
    const second = resolveSecrets(config);
    expect(second.keyHashSecret).toBe(first.keyHashSecret);
    expect(second.sessionSecret).toBe(first.sessionSecret);
  });

  it('prefers secrets from the environment and then writes no file', () => {
    const dir = tempDir();
    const config = parseConfig({ DATABASE_URL: `file:${dir}/keyward.db`, KEY_HASH_SECRET: SECRET, SESSION_SECRET: SECRET });
    const resolved = resolveSecrets(config);
    expect(resolved.keyHashSecret).toBe(SECRET);
    expect(resolved.secretsFile).toBeNull();
    expect(fs.existsSync(secretsFilePath(`${dir}/keyward.db`))).toBe(false);
  });
});
