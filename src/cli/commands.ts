/**
 * The CLI's commands. Each receives parsed options and the app context, and returns what to print:
 * a JSON value for --json, else lines for people. Errors are AppErrors, printed by main.ts.
 */
import type { Actor } from '../audit/audit-types';
import { generatePassword } from '../auth/password';
import type { AppContext } from '../context';
import { type ApiKeyRecord, displayPrefix } from '@keyward/guard';
import { readNewPassword, readStdin, usageError } from './input';

export type Options = Record<string, string | boolean | undefined>;

export interface CommandOutput {
  json: unknown;
  text: string[];
}

export type Command = (ctx: AppContext, options: Options, args: string[], actor: Actor) => Promise<CommandOutput>;

export { usageError };

function required(options: Options, name: string): string {
  const value = options[name];
  if (typeof value !== 'string' || value.trim() === '') throw usageError(`--${name} is required.`);
  return value;
}

function keySummary(ctx: AppContext, key: ApiKeyRecord) {
  return {
    id: key.id,
    name: key.name,
    prefix: displayPrefix(key.prefix, key.id),
    last4: key.last4,
    status: ctx.keys.statusOf(key),
    scopes: key.scopes,
    ownerId: key.ownerId,
    expiresAt: key.expiresAt?.toISOString() ?? null,
    createdAt: key.createdAt.toISOString(),
  };
}

const createTenant: Command = async (ctx, options, _args, actor) => {
  const tenant = await ctx.tenants.create({ name: required(options, 'name'), slug: required(options, 'slug') }, actor);
  return { json: tenant, text: [`Created tenant ${tenant.slug} (${tenant.name}), id ${tenant.id}.`] };
};

const listTenants: Command = async (ctx) => {
  const tenants = await ctx.tenants.list();
  return { json: tenants, text: tenants.map((t) => `${t.slug}\t${t.name}\t${t.id}`) };
};

const createUser: Command = async (ctx, options, _args, actor) => {
  const tenant = await ctx.tenants.getBySlug(required(options, 'tenant'));
  const role = required(options, 'role');
  const generated = typeof options.password === 'string' ? null : generatePassword();
  const user = await ctx.users.create(
    {
      email: required(options, 'email'),
      password: generated ?? options.password,
      isPlatformAdmin: options['platform-admin'] === true,
    },
    actor,
  );
  await ctx.users.setMembership(user.id, tenant.id, role, actor);
  const text = [`Created user ${user.email} (${role} of ${tenant.slug}${user.isPlatformAdmin ? ', platform admin' : ''}), id ${user.id}.`];
  if (generated) text.push(`Generated password (shown once): ${generated}`);
  return { json: { ...user, role, tenant: tenant.slug, ...(generated ? { password: generated } : {}) }, text };
};

const setPassword: Command = async (ctx, options, _args, actor) => {
  if (options.password !== undefined) {
    throw usageError('users set-password reads the new password from standard input, never from the command line (or use --generate).');
  }
  const user = await ctx.users.getByEmail(required(options, 'email'));
  const generated = options.generate === true ? generatePassword() : null;
  const password = generated ?? (await readNewPassword(`printf '%s\\n' "$NEW_PASSWORD" | npx keyward users set-password --email ${user.email}`));
  await ctx.users.setPassword(user.id, { newPassword: password }, actor);
  const text = [`Set a new password for ${user.email}; every dashboard session of theirs has ended.`];
  if (generated) text.push(`Generated password (shown once): ${generated}`);
  return { json: { id: user.id, email: user.email, ...(generated ? { password: generated } : {}) }, text };
};

/** A comma-separated option as a list (absent: undefined, so the key service's default applies). */
function list(value: string | boolean | undefined): string[] | undefined {
  return typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

/** A numeric option as a number; anything else becomes NaN, which the key service refuses by field name. */
function number(value: string | boolean | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  return value.trim() === '' ? Number.NaN : Number(value);
}

const createKey: Command = async (ctx, options, _args, actor) => {
  const tenant = await ctx.tenants.getBySlug(required(options, 'tenant'));
  const owner = typeof options.owner === 'string' ? await ctx.users.getByEmail(options.owner) : null;
  const budgetCents = number(options['budget-cents']);
  const budgetPeriod = options['budget-period'];
  const tokensPerMinute = number(options['tokens-per-minute']);
  const tokensPerDay = number(options['tokens-per-day']);
  // Everything is validated by the key service, exactly as for the API and the dashboard.
  const input = {
    name: required(options, 'name'),
    description: options.description,
    scopes: list(options.scopes),
    tags: list(options.tags),
    tier: options.tier,
    allowedIps: list(options['allowed-ips']),
    allowedModels: list(options['allowed-models']),
    usageLimit: number(options['usage-limit']),
    usageLimitPeriod: options['quota-period'],
    tokenLimits:
      tokensPerMinute === undefined && tokensPerDay === undefined ? undefined : { perMinute: tokensPerMinute, perDay: tokensPerDay },
    maxConcurrentRequests: number(options['max-concurrent']),
    budget: budgetCents === undefined && budgetPeriod === undefined ? undefined : { limitCents: budgetCents, period: budgetPeriod },
    expiresInDays: number(options['expires-in-days']),
    ownerId: owner?.id,
  };
  const defined = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
  const { key, apiKey } = await ctx.keys.create(tenant.id, defined, actor);
  return {
    json: { id: apiKey.id, key },
    text: [
      `Created key ${apiKey.id} "${apiKey.name}" in ${tenant.slug} (tier ${apiKey.tier}, scopes ${apiKey.scopes.join(', ')}).`,
      `Secret (shown once, store it now): ${key}`,
    ],
  };
};

const listKeys: Command = async (ctx, options) => {
  const tenant = await ctx.tenants.getBySlug(required(options, 'tenant'));
  // Follows nextCursor: page numbers stop 10,000 keys deep, and counts at 10,000.
  const keys: ApiKeyRecord[] = [];
  let cursor = '';
  do {
    const page = await ctx.keys.list(tenant.id, { size: 100, cursor });
    keys.push(...page.data);
    cursor = page.nextCursor ?? '';
  } while (cursor);
  const summaries = keys.map((key) => keySummary(ctx, key));
  return {
    json: summaries,
    text: summaries.length
      ? summaries.map((k) => `${k.id}\t${k.status}\t${k.prefix}${k.last4}\t${k.name}`)
      : [`No keys in ${tenant.slug}.`],
  };
};

/** Finds a key by id in any tenant: the CLI runs with the database's full authority. */
async function keyById(ctx: AppContext, id: string | undefined): Promise<ApiKeyRecord> {
  if (!id) throw usageError('Give the key id, e.g. `keys revoke AbCd1234EfGh`.');
  const tenantId = await ctx.keys.tenantOf(id);
  return ctx.keys.get(tenantId, id);
}

const revokeKey: Command = async (ctx, _options, args, actor) => {
  const key = await keyById(ctx, args[0]);
  const revoked = await ctx.keys.revoke(key.tenantId, key.id, actor);
  return { json: keySummary(ctx, revoked), text: [`Revoked key ${revoked.id} "${revoked.name}".`] };
};

const verifyKey: Command = async (ctx, options) => {
  const presented =
    typeof options.key === 'string' ? options.key : await readStdin('Pipe the key on standard input, e.g. `echo "$KEY" | npx keyward keys verify`.');
  const result = await ctx.keys.verify(presented.trim());
  if (!result.ok) return { json: { valid: false, code: result.code }, text: [`Refused: ${result.code}`] };
  return { json: { valid: true, id: result.apiKey.id }, text: [`Valid: key ${result.apiKey.id} "${result.apiKey.name}".`] };
};

/** Every command, by "<group> <action>". */
export const COMMANDS: Record<string, { run: Command; usage: string }> = {
  'tenants create': { run: createTenant, usage: 'tenants create --name NAME --slug SLUG [--json]' },
  'tenants list': { run: listTenants, usage: 'tenants list [--json]' },
  'users create': {
    run: createUser,
    usage: 'users create --email EMAIL [--password PASSWORD] --tenant SLUG --role owner|admin|member [--platform-admin] [--json]',
  },
  'users set-password': {
    run: setPassword,
    usage: 'users set-password --email EMAIL [--generate] [--json]   (reads the new password from stdin without --generate; ends their sessions)',
  },
  'keys create': {
    run: createKey,
    usage: [
      'keys create --tenant SLUG --name NAME [--scopes a,b] [--owner EMAIL] [--tier free|pro|enterprise]',
      '      [--description TEXT] [--tags a,b] [--allowed-ips ADDR,CIDR] [--allowed-models a,b]',
      '      [--usage-limit N [--quota-period total|daily|monthly]] [--tokens-per-minute N] [--tokens-per-day N]',
      '      [--max-concurrent N]',
      '      [--budget-cents N --budget-period total|monthly] [--expires-in-days N] [--json]',
    ].join('\n'),
  },
  'keys list': { run: listKeys, usage: 'keys list --tenant SLUG [--json]' },
  'keys revoke': { run: revokeKey, usage: 'keys revoke ID [--json]' },
  'keys verify': { run: verifyKey, usage: 'keys verify [--key KEY] [--json]   (reads the key from stdin without --key)' },
};
