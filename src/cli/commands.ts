/**
 * The CLI's commands. Each receives parsed options and the app context, and returns what to print:
 * a JSON value for --json, else lines for people. Errors are AppErrors, printed by main.ts.
 */
import type { Actor } from '../audit/audit-types';
import { generatePassword } from '../auth/password';
import type { AppContext } from '../context';
import { AppError } from '../errors';
import { displayPrefix } from '../keys/key-format';
import type { ApiKeyRecord } from '../keys/key-types';

export type Options = Record<string, string | boolean | undefined>;

export interface CommandOutput {
  json: unknown;
  text: string[];
}

export type Command = (ctx: AppContext, options: Options, args: string[], actor: Actor) => Promise<CommandOutput>;

export function usageError(message: string): AppError {
  return new AppError({ status: 400, code: 'usage_error', message });
}

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

const createKey: Command = async (ctx, options, _args, actor) => {
  const tenant = await ctx.tenants.getBySlug(required(options, 'tenant'));
  const owner = typeof options.owner === 'string' ? await ctx.users.getByEmail(options.owner) : null;
  const scopes = typeof options.scopes === 'string' ? options.scopes.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  const { key, apiKey } = await ctx.keys.create(
    tenant.id,
    { name: required(options, 'name'), ...(scopes ? { scopes } : {}), ...(owner ? { ownerId: owner.id } : {}) },
    actor,
  );
  return {
    json: { id: apiKey.id, key },
    text: [`Created key ${apiKey.id} "${apiKey.name}" in ${tenant.slug}.`, `Secret (shown once, store it now): ${key}`],
  };
};

const listKeys: Command = async (ctx, options) => {
  const tenant = await ctx.tenants.getBySlug(required(options, 'tenant'));
  const keys = [];
  for (let page = 1; ; page += 1) {
    const result = await ctx.keys.list(tenant.id, { page, size: 100 });
    keys.push(...result.data);
    if (page * result.size >= result.total) break;
  }
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
  const presented = typeof options.key === 'string' ? options.key : await readStdin();
  const result = await ctx.keys.verify(presented.trim());
  if (!result.ok) return { json: { valid: false, code: result.code }, text: [`Refused: ${result.code}`] };
  return { json: { valid: true, id: result.apiKey.id }, text: [`Valid: key ${result.apiKey.id} "${result.apiKey.name}".`] };
};

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw usageError('Pipe the key on standard input, e.g. `echo "$KEY" | keyward keys verify`.');
  let data = '';
  for await (const chunk of process.stdin) data += chunk;
  return data;
}

/** Every command, by "<group> <action>". */
export const COMMANDS: Record<string, { run: Command; usage: string }> = {
  'tenants create': { run: createTenant, usage: 'tenants create --name NAME --slug SLUG [--json]' },
  'tenants list': { run: listTenants, usage: 'tenants list [--json]' },
  'users create': {
    run: createUser,
    usage: 'users create --email EMAIL [--password PASSWORD] --tenant SLUG --role owner|admin|member [--platform-admin] [--json]',
  },
  'keys create': { run: createKey, usage: 'keys create --tenant SLUG --name NAME [--scopes a,b] [--owner EMAIL] [--json]' },
  'keys list': { run: listKeys, usage: 'keys list --tenant SLUG [--json]' },
  'keys revoke': { run: revokeKey, usage: 'keys revoke ID [--json]' },
  'keys verify': { run: verifyKey, usage: 'keys verify [--key KEY] [--json]   (reads the key from stdin without --key)' },
};
