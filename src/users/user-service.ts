import { z } from 'zod';
import type { Actor } from '../audit/audit-types';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, type PasswordHasher } from '../auth/password';
import type { Database } from '../data/database';
import { isUniqueViolation } from '../data/errors';
import { insertAuditEvent } from '../data/repositories/audit-events';
import { findTenantById } from '../data/repositories/tenants';
import {
  deleteMembership,
  findMembership,
  findUserByEmail,
  findUserById,
  insertUser,
  updateUser,
  upsertMembership,
} from '../data/repositories/users';
import { conflict, notFound } from '../errors';
import { newId } from '../lib/base62';
import { parseInput } from '../lib/validation';
import { MEMBER_ROLES, type MemberRole, type Membership, type User } from '../tenants/tenant-types';

export const emailField = z
  .string({ error: 'must be a string' })
  .trim()
  .toLowerCase()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email({ error: 'must be an email address' }));

export const passwordField = z
  .string({ error: 'must be a string' })
  .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`);

export const roleField = z.enum(MEMBER_ROLES, { error: 'must be one of owner, admin, member' });

const createUserSchema = z.strictObject({
  email: emailField,
  password: passwordField,
  name: z.string({ error: 'must be a string' }).trim().max(100, 'must be at most 100 characters').optional(),
  isPlatformAdmin: z.boolean({ error: 'must be true or false' }).optional(),
});

/** People: accounts, their memberships in tenants, and their passwords. */
export class UserService {
  constructor(
    private readonly db: Database,
    private readonly passwords: PasswordHasher,
  ) {}

  async create(input: unknown, actor: Actor): Promise<User> {
    const data = parseInput(createUserSchema, input);
    if (await findUserByEmail(this.db.prisma, data.email)) {
      throw conflict('email', `A user with the email ${data.email} exists already.`);
    }
    const passwordHash = await this.passwords.hash(data.password);
    try {
      return await this.db.transaction(async (tx) => {
        const user = await insertUser(tx, {
          id: newId(),
          email: data.email,
          name: data.name || null,
          passwordHash,
          isPlatformAdmin: data.isPlatformAdmin ?? false,
        });
        await insertAuditEvent(tx, {
          tenantId: null,
          actor,
          action: 'user.create',
          targetType: 'user',
          targetId: user.id,
          changes: {
            email: { before: null, after: user.email },
            isPlatformAdmin: { before: null, after: user.isPlatformAdmin },
          },
        });
        return user;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('email', `A user with the email ${data.email} exists already.`);
      throw error;
    }
  }

  /** Adds a user to a tenant with a role, or changes their role there. */
  async setMembership(userId: string, tenantId: string, role: unknown, actor: Actor): Promise<Membership> {
    const parsedRole: MemberRole = parseInput(z.object({ role: roleField }), { role }).role;
    return this.db.transaction(async (tx) => {
      if (!(await findUserById(tx, userId))) throw notFound('User');
      if (!(await findTenantById(tx, tenantId))) throw notFound('Tenant');
      const before = await findMembership(tx, userId, tenantId);
      const membership = await upsertMembership(tx, { userId, tenantId, role: parsedRole });
      await insertAuditEvent(tx, {
        tenantId,
        actor,
        action: before ? 'member.role_change' : 'member.add',
        targetType: 'membership',
        targetId: userId,
        changes: { role: { before: before?.role ?? null, after: parsedRole } },
      });
      return membership;
    });
  }

  async removeMembership(userId: string, tenantId: string, actor: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const before = await findMembership(tx, userId, tenantId);
      if (!before) throw notFound('Membership');
      await deleteMembership(tx, userId, tenantId);
      await insertAuditEvent(tx, {
        tenantId,
        actor,
        action: 'member.remove',
        targetType: 'membership',
        targetId: userId,
        changes: { role: { before: before.role, after: null } },
      });
    });
  }

  async getByEmail(email: string): Promise<User> {
    const user = await findUserByEmail(this.db.prisma, email.trim().toLowerCase());
    if (!user) throw notFound('User');
    return user;
  }

  /** Disables or re-enables a user. A disabled user cannot sign in. */
  async setDisabled(userId: string, disabled: boolean, actor: Actor): Promise<User> {
    return this.db.transaction(async (tx) => {
      const before = await findUserById(tx, userId);
      if (!before) throw notFound('User');
      const user = await updateUser(tx, userId, { disabled });
      await insertAuditEvent(tx, {
        tenantId: null,
        actor,
        action: disabled ? 'user.disable' : 'user.enable',
        targetType: 'user',
        targetId: userId,
        changes: { disabled: { before: before.disabled, after: disabled } },
      });
      return user;
    });
  }
}
