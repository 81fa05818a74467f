/**
 * `npx keyward <command>` (bin/keyward.js, or `npm run keyward -- <command>`): administration from
 * a shell, against the same DATABASE_URL as the app. Applies pending migrations first. `--json`
 * prints exactly one JSON document on stdout; everything else goes to stderr.
 */
import { parseArgs } from 'node:util';
import { systemActor } from '../audit/audit-types';
import { bootstrap, describeBootstrap } from '../bootstrap';
import { createContext } from '../context';
import { AppError } from '../errors';
import { createLogger } from '../logger';
import { exitOnStartupError, prepare } from '../startup';
import { COMMANDS, usageError } from './commands';

function usage(): string {
  return [
    'Usage: npx keyward <command>   (or: npm run -s keyward -- <command>)',
    '',
    '  migrate',
    ...Object.values(COMMANDS).map((c) => `  ${c.usage}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      name: { type: 'string' },
      slug: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      tenant: { type: 'string' },
      role: { type: 'string' },
      'platform-admin': { type: 'boolean' },
      scopes: { type: 'string' },
      owner: { type: 'string' },
      key: { type: 'string' },
      generate: { type: 'boolean' },
      tier: { type: 'string' },
      description: { type: 'string' },
      tags: { type: 'string' },
      'allowed-ips': { type: 'string' },
      'allowed-models': { type: 'string' },
      'usage-limit': { type: 'string' },
      'budget-cents': { type: 'string' },
      'budget-period': { type: 'string' },
      'expires-in-days': { type: 'string' },
      'tokens-per-minute': { type: 'string' },
      'tokens-per-day': { type: 'string' },
      'max-concurrent': { type: 'string' },
      'quota-period': { type: 'string' },
    },
  });
  const [group, action, ...args] = positionals;
  if (values.help || !group) {
    process.stdout.write(`${usage()}\n`);
    return values.help ? 0 : 2;
  }
  // Migration progress goes to stderr so that stdout holds only the command's result.
  const config = await prepare((message) => process.stderr.write(`keyward: ${message}\n`));
  if (group === 'migrate') {
    process.stderr.write('keyward: database is up to date\n');
    return 0;
  }
  const command = COMMANDS[`${group} ${action ?? ''}`];
  if (!command) throw usageError(`Unknown command "${positionals.join(' ')}".\n${usage()}`);

  // The CLI only makes changes (running instances poll them): it has no key cache to keep fresh.
  const ctx = createContext(config, { logger: createLogger('error'), keyChangeFeed: false, alertWorkers: false });
  try {
    // With REDIS_URL, key changes made here are broadcast to running instances.
    await ctx.ready();
    // A fresh install works from the CLI too: the first run creates the admin and tenant "default".
    const first = await bootstrap(ctx);
    if (first.created) process.stderr.write(`keyward: ${describeBootstrap(first).replace(/\n/g, '\nkeyward: ')}\n`);
    const output = await command.run(ctx, values, args, systemActor('cli'));
    process.stdout.write(values.json ? `${JSON.stringify(output.json)}\n` : `${output.text.join('\n')}\n`);
    return 0;
  } finally {
    await ctx.close();
  }
}

main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((error: unknown) => {
    if (error instanceof AppError) {
      const details = error.details?.map((d) => `\n  ${d.field}: ${d.message}`).join('') ?? '';
      process.stderr.write(`keyward: ${error.message}${details}\n`);
      process.exit(error.code === 'usage_error' ? 2 : 1);
    }
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`keyward: ${(error as Error).message}\n${usage()}\n`);
      process.exit(2);
    }
    exitOnStartupError(error);
  });
