import { z } from 'zod';
import type { Actor } from '../audit/audit-types';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, type PasswordHasher } from '../auth/password';
import type { Database } from '../data/database';
import { isUniqueViolation } from '../data/errors';
import { insertAuditEvent } from '../data/repositories/audit-events';
import { deleteSessionsOfUser } from '../data/repositories/sessions';
import { findTenantById } from '../data/repositories/tenants';
import {
  deleteMembership,
  findMembership,
  findPasswordHash,
  findUserByEmail,
  findUserById,
  findUserCredentials,
  findUsersByIds,
  insertUser,
  listAllMemberships,
  listMembershipsOfUsers,
  listMembersOfTenant,
  listTenantsOfUser,
  listUsers,
  searchUsers,
  updateUser,
  upsertMembership,
} from '../data/repositories/users';
import { conflict, type FieldIssue, notFound, validationError } from '../errors';
import { newId } from '@keyward/guard';
import { parseInput, toFieldIssues } from '../lib/validation';
import { MEMBER_ROLES, type MemberRole, type Membership, type Tenant, type User } from '../tenants/tenant-types';

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

const changePasswordSchema = z.strictObject({
  currentPassword: z.string({ error: 'must be a string' }).min(1, 'is required'),
  newPassword: passwordField,
  /** The form's "new password again": when given, it must match. */
  confirmPassword: z.string({ error: 'must be a string' }).optional(),
});

const setPasswordSchema = z.strictObject({ newPassword: passwordField });

/** People: accounts, their memberships in tenants, and their passwords. */
export class UserService {
  /** Compared against when an email is unknown, so sign-in takes as long either way. */
  private dummyHash: Promise<string> | null = null;

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
          targetLabel: user.email,
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
      const user = await findUserById(tx, userId);
      if (!user) throw notFound('User');
      if (!(await findTenantById(tx, tenantId))) throw notFound('Tenant');
      const before = await findMembership(tx, userId, tenantId);
      const membership = await upsertMembership(tx, { userId, tenantId, role: parsedRole });
      await insertAuditEvent(tx, {
        tenantId,
        actor,
        action: before ? 'member.role_change' : 'member.add',
        targetType: 'membership',
        targetId: userId,
        targetLabel: user.email,
        changes: { role: { before: before?.role ?? null, after: parsedRole } },
      });
      return membership;
    });
  }

  async removeMembership(userId: string, tenantId: string, actor: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const before = await findMembership(tx, userId, tenantId);
      if (!before) throw notFound('Membership');
      const user = await findUserById(tx, userId);
      await deleteMembership(tx, userId, tenantId);
      await insertAuditEvent(tx, {
        tenantId,
        actor,
        action: 'member.remove',
        targetType: 'membership',
        targetId: userId,
        targetLabel: user?.email ?? null,
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
        targetLabel: before.email,
        changes: { disabled: { before: before.disabled, after: disabled } },
      });
      return user;
    });
  }
  /**
   * The user whose email and password match, disabled or not (the caller decides what a disabled
   * account may do), or null. Unknown emails cost a hash comparison too, so timing tells nothing.
   */
  async authenticate(email: string, password: string): Promise<User | null> {
    const normalized = email.trim().toLowerCase();
    const credentials = normalized ? await findUserCredentials(this.db.prisma, normalized) : null;
    if (!credentials) {
      this.dummyHash ??= this.passwords.dummyHash();
      await this.passwords.verify(password, await this.dummyHash);
      return null;
    }
    if (!(await this.passwords.verify(password, credentials.passwordHash))) return null;
    const { passwordHash: _hash, ...user } = credentials;
    return user;
  }

  /**
   * Changes a person's own password after checking the current one (and, when given, that
   * `confirmPassword` repeats the new one). Every field error comes at once, naming
   * `currentPassword`, `newPassword` and `confirmPassword`. Ending their other sessions is the
   * caller's part.
   */
  async changePassword(userId: string, input: unknown, actor: Actor): Promise<User> {
    // Every problem at once: the shape, a confirmation that differs, and a wrong current password.
    const parsed = changePasswordSchema.safeParse(input);
    const issues: FieldIssue[] = parsed.success ? [] : toFieldIssues(parsed.error);
    const given = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
    if (typeof given.confirmPassword === 'string' && given.confirmPassword !== given.newPassword) {
      issues.push({ field: 'confirmPassword', message: 'does not match the new password' });
    }
    const stored = await findPasswordHash(this.db.prisma, userId);
    if (!stored) throw notFound('User');
    if (typeof given.currentPassword === 'string' && given.currentPassword !== '' && !(await this.passwords.verify(given.currentPassword, stored))) {
      issues.push({ field: 'currentPassword', message: 'is not your current password' });
    }
    if (!parsed.success || issues.length > 0) throw validationError(issues);
    const passwordHash = await this.passwords.hash(parsed.data.newPassword);
    return this.db.transaction(async (tx) => {
      const user = await updateUser(tx, userId, { passwordHash });
      await insertAuditEvent(tx, {
        tenantId: null,
        actor,
        action: 'user.password_change',
        targetType: 'user',
        targetId: userId,
        targetLabel: user.email,
        changes: null,
      });
      return user;
    });
  }

  /**
   * Sets a person's password without their current one (a platform admin, or the CLI on the
   * server) and ends every dashboard session of theirs in the same transaction, with an audit
   * event `user.password_set`. The field error names `newPassword`.
   */
  async setPassword(userId: string, input: unknown, actor: Actor): Promise<User> {
    const { newPassword } = parseInput(setPasswordSchema, input);
    if (!(await findUserById(this.db.prisma, userId))) throw notFound('User');
    const passwordHash = await this.passwords.hash(newPassword);
    return this.db.transaction(async (tx) => {
      const user = await updateUser(tx, userId, { passwordHash });
      await deleteSessionsOfUser(tx, userId);
      await insertAuditEvent(tx, {
        tenantId: null,
        actor,
        action: 'user.password_set',
        targetType: 'user',
        targetId: userId,
        targetLabel: user.email,
        changes: null,
      });
      return user;
    });
  }

  /** A user by email (case-insensitive), or null. */
  findByEmail(email: string): Promise<User | null> {
    return findUserByEmail(this.db.prisma, email.trim().toLowerCase());
  }

  /** A user by id, or null. */
  findById(id: string): Promise<User | null> {
    return findUserById(this.db.prisma, id);
  }

  async getById(id: string): Promise<User> {
    const user = await findUserById(this.db.prisma, id);
    if (!user) throw notFound('User');
    return user;
  }

  /** Users by id; unknown ids are left out. */
  findManyByIds(ids: readonly string[]): Promise<User[]> {
    return findUsersByIds(this.db.prisma, ids);
  }

  /** Every user, by email. */
  list(): Promise<User[]> {
    return listUsers(this.db.prisma);
  }

  /** A page of users by email, those whose email or name contains `search` when given. */
  async search(query: { search?: string; page: number; size: number }): Promise<{ data: User[]; total: number }> {
    const { rows, total } = await searchUsers(this.db.prisma, query, (text) => this.db.containsText(text));
    return { data: rows, total };
  }

  /** The memberships of these users, with their tenants. */
  membershipsOf(userIds: readonly string[]): Promise<(Membership & { tenant: Tenant })[]> {
    return listMembershipsOfUsers(this.db.prisma, userIds);
  }

  /** Every membership with its tenant (for the platform admin's overview of people). */
  listAllMemberships(): Promise<(Membership & { tenant: Tenant })[]> {
    return listAllMemberships(this.db.prisma);
  }

  /** The tenants a user belongs to, with their role there, by tenant name. */
  tenantsOf(userId: string): Promise<(Membership & { tenant: Tenant })[]> {
    return listTenantsOfUser(this.db.prisma, userId);
  }

  /** A tenant's members with their accounts, by email. */
  membersOf(tenantId: string): Promise<(Membership & { user: User })[]> {
    return listMembersOfTenant(this.db.prisma, tenantId);
  }

  /** A user's membership in a tenant, or null. */
  membershipOf(userId: string, tenantId: string): Promise<Membership | null> {
    return findMembership(this.db.prisma, userId, tenantId);
  }
}
