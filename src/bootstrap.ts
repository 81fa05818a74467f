import { systemActor } from './audit/audit-types';
import { generatePassword } from './auth/password';
import type { AppContext } from './context';
import { isUniqueViolation } from './data/errors';
import { countUsers } from './data/repositories/users';

/** What the first start created, so the caller can tell the operator where credentials come from. */
export type BootstrapResult =
  | { created: false }
  | { created: true; email: string; generatedPassword: string | null; tenantSlug: string };

export const DEFAULT_TENANT_SLUG = 'default';

/**
 * On the first start (no user yet): creates the tenant `default` and the platform admin from
 * ADMIN_EMAIL / ADMIN_PASSWORD as its owner. Without ADMIN_PASSWORD a strong password is
 * generated and returned once for the caller to print. Safe when several instances start at once:
 * exactly one creates the admin, the others find it.
 */
export async function bootstrap(ctx: AppContext): Promise<BootstrapResult> {
  if ((await countUsers(ctx.database.prisma)) > 0) return { created: false };
  const actor = systemActor('bootstrap');
  const password = ctx.config.admin.password ?? generatePassword();
  try {
    const tenant =
      (await ctx.tenants.findBySlug(DEFAULT_TENANT_SLUG)) ??
      (await ctx.tenants.create({ name: 'Default', slug: DEFAULT_TENANT_SLUG }, actor));
    const admin = await ctx.users.create(
      { email: ctx.config.admin.email, password, isPlatformAdmin: true, name: 'Administrator' },
      actor,
    );
    await ctx.users.setMembership(admin.id, tenant.id, 'owner', actor);
    return {
      created: true,
      email: admin.email,
      generatedPassword: ctx.config.admin.password ? null : password,
      tenantSlug: tenant.slug,
    };
  } catch (error) {
    // Another instance won the race to create the tenant or the admin.
    if (isUniqueViolation(error) || (error as { code?: string }).code === 'conflict') return { created: false };
    throw error;
  }
}

/** Where the admin's credentials come from, for the operator (the generated password only once). */
export function describeBootstrap(result: BootstrapResult): string {
  if (!result.created) return 'Sign in with your existing account (the admin was created on first start from ADMIN_EMAIL/ADMIN_PASSWORD).';
  if (result.generatedPassword) {
    return [
      'Created the platform admin and the tenant "default".',
      `  email:    ${result.email}   (from ADMIN_EMAIL, default admin@keyward.local)`,
      `  password: ${result.generatedPassword}   (generated because ADMIN_PASSWORD is unset; shown only this once)`,
    ].join('\n');
  }
  return `Created the platform admin ${result.email} (password from ADMIN_PASSWORD), owner of the tenant "default".`;
}

/** One line of the server's start output: a message and its fields. */
export interface BootstrapNotice {
  message: string;
  fields: Record<string, string>;
}

/**
 * The same for the server's log, one notice per line; a generated password is a field of its own
 * line (`generatedAdminPassword`), written only this once.
 */
export function bootstrapNotices(result: BootstrapResult): BootstrapNotice[] {
  if (!result.created) return [{ message: describeBootstrap(result), fields: {} }];
  if (!result.generatedPassword) return [{ message: describeBootstrap(result), fields: { email: result.email, tenant: result.tenantSlug } }];
  return [
    {
      message: `Created the platform admin ${result.email} (email from ADMIN_EMAIL, default admin@keyward.local), owner of the tenant "${result.tenantSlug}".`,
      fields: { email: result.email, tenant: result.tenantSlug },
    },
    {
      message: "The platform admin's password, generated because ADMIN_PASSWORD is unset; shown only this once.",
      fields: { email: result.email, generatedAdminPassword: result.generatedPassword },
    },
  ];
}
