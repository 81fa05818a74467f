/**
 * The ways the README gives for parsing the CLI's JSON print nothing else on stdout, although npm
 * logs at its default level (no `loglevel=silent` in .npmrc): `npx keyward … --json` and
 * `npm run -s keyward -- … --json` (node dist/cli/main.js is covered by the other CLI suites).
 */
import path from 'node:path';
import { tempDir } from '../helpers/databases';
import { ROOT, type RunResult, runCommand } from '../helpers/processes';

const run = (command: string, args: string[], env: Record<string, string>): Promise<RunResult> =>
  runCommand(command, args, { cwd: ROOT, env: { HOME: process.env.HOME, npm_config_update_notifier: 'false', ...env } });

test.each([
  ['npx keyward', 'npx', ['keyward']],
  ['npm run -s keyward --', 'npm', ['run', '-s', 'keyward', '--']],
])('%s … --json prints exactly one JSON document on stdout', async (_name, command, prefix) => {
  const env = { DATABASE_URL: `file:${path.join(tempDir(), 'keyward.db')}` };
  // The first call of a fresh install also creates the admin: that report goes to stderr.
  const created = await run(command, [...prefix, 'keys', 'create', '--tenant', 'default', '--name', 'ops', '--scopes', 'admin', '--json'], env);
  expect(created.code).toBe(0);
  expect(created.stderr).toMatch(/Created the platform admin/);
  const issued = JSON.parse(created.stdout) as { id: string; key: string };
  expect(Object.keys(issued).sort()).toEqual(['id', 'key']);

  const listed = await run(command, [...prefix, 'keys', 'list', '--tenant', 'default', '--json'], env);
  expect(listed.code).toBe(0);
  expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ id: issued.id, name: 'ops', scopes: ['admin'] })]);
  expect(listed.stdout.trim().split('\n')).toHaveLength(1);
}, 120_000);
