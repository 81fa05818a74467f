/**
 * @keyward/guard as a user gets it: packed from packages/guard (prepack builds it), installed from
 * the tarball into an empty folder, then used by a CommonJS app, an ES module app and a
 * type-checked TypeScript app (test/package/consumer).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/databases';
import { ROOT } from '../helpers/processes';

const PACKAGE = path.join(ROOT, 'packages', 'guard');
const CONSUMER = path.join(__dirname, 'consumer');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const FORBIDDEN = [/^@prisma\//, /^prisma$/, /^better-sqlite3$/, /^pg$/, /^typescript$/];

/** npm, quiet, with the machine's cache preferred (the registry is asked only for what is missing). */
function npm(args: string[], cwd: string): string {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd, encoding: 'utf8' });
}

/** Every package name in an installed tree (node_modules, scoped ones included, nested ones too). */
function installedPackages(dir: string): string[] {
  const names: string[] = [];
  const walk = (modules: string) => {
    if (!fs.existsSync(modules)) return;
    for (const entry of fs.readdirSync(modules)) {
      if (entry.startsWith('.')) continue;
      const scoped = entry.startsWith('@') ? fs.readdirSync(path.join(modules, entry)).map((name) => `${entry}/${name}`) : [entry];
      for (const name of scoped) {
        names.push(name);
        walk(path.join(modules, name, 'node_modules'));
      }
    }
  };
  walk(path.join(dir, 'node_modules'));
  return names;
}

function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? sizeOf(full) : fs.statSync(full).size;
  }
  return total;
}

describe('the packed @keyward/guard tarball', () => {
  let app: string;
  let tarball: string;

  beforeAll(() => {
    const out = tempDir('keyward-pack-');
    const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', out], PACKAGE)) as Array<{ filename: string }>;
    tarball = path.join(out, packed[0].filename);
    app = path.join(out, 'consumer');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    for (const file of fs.readdirSync(CONSUMER)) fs.copyFileSync(path.join(CONSUMER, file), path.join(app, file));
    npm(['install', tarball], app);
  }, 240_000);

  it('ships built code with exports for require and import, and runs no install script', () => {
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
    expect(manifest.exports['.']).toEqual({
      import: { types: './dist/esm/index.d.mts', default: './dist/esm/index.mjs' },
      require: { types: './dist/cjs/index.d.ts', default: './dist/cjs/index.js' },
    });
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) expect(manifest.scripts?.[script]).toBeUndefined();
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(files).toContain('package/dist/cjs/index.js');
    expect(files).toContain('package/dist/esm/index.mjs');
    expect(files.filter((file) => file.startsWith('package/src/') || file.endsWith('.map'))).toEqual([]);

    const lock = JSON.parse(fs.readFileSync(path.join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    expect(Object.entries(lock.packages).filter(([, entry]) => entry.hasInstallScript).map(([name]) => name)).toEqual([]);
  });

  it('pulls in no database, ORM or compiler, and stays small', () => {
    const names = installedPackages(app);
    expect(names).toEqual(expect.arrayContaining(['@keyward/guard', 'rate-limiter-flexible', 'lru-cache', 'ipaddr.js', 'express']));
    expect(names.filter((name) => FORBIDDEN.some((pattern) => pattern.test(name)))).toEqual([]);
    const own = ['@keyward/guard', 'rate-limiter-flexible', 'lru-cache', 'ipaddr.js'].reduce((sum, name) => sum + sizeOf(path.join(app, 'node_modules', name)), 0);
    expect(own).toBeLessThan(8 * 1024 * 1024); // the README states the measured size (about 5 MB)
  });

  it.each(['app.cjs', 'app.mjs'])('guards an Express app: %s', (entry) => {
    const result = JSON.parse(execFileSync(process.execPath, [entry], { cwd: app, encoding: 'utf8', timeout: 30_000 }));
    expect(result.format).toBe(entry.endsWith('.mjs') ? 'esm' : 'cjs');
    expect(result.ok).toMatchObject({ status: 200, body: { tenant: 'shop' }, limit: '2' });
    expect(result.second.status).toBe(200);
    expect(result.third).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    expect(result.narrow).toMatchObject({ status: 403, body: { error: { code: 'insufficient_scope' } } });
    expect(result.missing).toMatchObject({ status: 401, body: { error: { code: 'missing_api_key' } } });
    expect(result.wrong).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key' } } });
  });

  it('type-checks a TypeScript app against its declarations, and rejects a wrong one', () => {
    // The consumer's own type packages (and ioredis, for the Redis entry point's types).
    npm(['install', '@types/express@5', '@types/node@20', 'ioredis@5'], app);
    expect(() => execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' })).not.toThrow();
    let output = '';
    try {
      execFileSync(process.execPath, [TSC, '-p', 'tsconfig.wrong.json'], { cwd: app, encoding: 'utf8' });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout);
    }
    expect(output).toContain("wrong.ts(5,14): error TS2322: Type 'number' is not assignable to type 'KeyStore'.");
    expect(output).toContain("wrong.ts(6,14): error TS2322: Type 'string' is not assignable to type 'number'.");
  }, 120_000);
});
