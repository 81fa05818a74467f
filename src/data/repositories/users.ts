import type { MemberRole, Membership, Tenant, User } from '../../tenants/tenant-types';
import type { Db, Prisma, Tx } from '../client-types';

const publicUser = {
  id: true,
  email: true,
  name: true,
  disabled: true,
  isPlatformAdmin: true,
  createdAt: true,
  updatedAt: true,
} as const;

export interface NewUser {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string;
  isPlatformAdmin: boolean;
}

export async function insertUser(tx: Tx, user: NewUser, now = new Date()): Promise<User> {
  return tx.user.create({ data: { ...user, createdAt: now, updatedAt: now }, select: publicUser });
}

export async function countUsers(db: Db | Tx): Promise<number> {
  return db.user.count();
}

export async function findUserById(db: Db | Tx, id: string): Promise<User | null> {
  return db.user.findUnique({ where: { id }, select: publicUser });
}

export async function findUserByEmail(db: Db | Tx, email: string): Promise<User | null> {
  return db.user.findUnique({ where: { email }, select: publicUser });
}

/** The user and their password hash, for sign-in only. */
export async function findUserCredentials(
  db: Db | Tx,
  email: string,
): Promise<(User & { passwordHash: string }) | null> {
  return db.user.findUnique({ where: { email }, select: { ...publicUser, passwordHash: true } });
}

export async function findPasswordHash(db: Db | Tx, userId: string): Promise<string | null> {
  const row = await db.user.findUnique({ where: { id: userId }, select: { passwordHash: true } });
  return row?.passwordHash ?? null;
}

export async function listUsers(db: Db): Promise<User[]> {
  return db.user.findMany({ select: publicUser, orderBy: { email: 'asc' } });
}

/**
 * One page of users by email (the unique email index orders them), optionally those whose email
 * or name contains `search` (case-insensitive, literal: see containsText), with the total.
 */
export async function searchUsers(
  db: Db,
  query: { search?: string; page: number; size: number },
  containsText: (text: string) => Prisma.StringFilter,
): Promise<{ rows: User[]; total: number }> {
  const where: Prisma.UserWhereInput = query.search
    ? { OR: [{ email: containsText(query.search) }, { name: containsText(query.search) }] }
    : {};
  const [rows, total] = await Promise.all([
    db.user.findMany({ where, select: publicUser, orderBy: { email: 'asc' }, skip: (query.page - 1) * query.size, take: query.size }),
    db.user.count({ where }),
  ]);
  return { rows, total };
}

export async function updateUser(
  tx: Tx,
  id: string,
  data: Partial<Pick<User, 'name' | 'disabled' | 'isPlatformAdmin'>> & { passwordHash?: string },
  now = new Date(),
): Promise<User> {
  return tx.user.update({ where: { id }, data: { ...data, updatedAt: now }, select: publicUser });
}

export async function upsertMembership(tx: Tx, membership: { userId: string; tenantId: string; role: MemberRole }): Promise<Membership> {
  const row = await tx.membership.upsert({
    where: { userId_tenantId: { userId: membership.userId, tenantId: membership.tenantId } },
    create: membership,
    update: { role: membership.role },
  });
  return { ...row, role: row.role as MemberRole };
}

export async function findMembership(db: Db | Tx, userId: string, tenantId: string): Promise<Membership | null> {
  const row = await db.membership.findUnique({ where: { userId_tenantId: { userId, tenantId } } });
  return row ? { ...row, role: row.role as MemberRole } : null;
}

export async function deleteMembership(tx: Tx, userId: string, tenantId: string): Promise<void> {
  await tx.membership.delete({ where: { userId_tenantId: { userId, tenantId } } });
}

/** The tenants a user belongs to, with their role, by tenant name. */
export async function listTenantsOfUser(db: Db, userId: string): Promise<(Membership & { tenant: Tenant })[]> {
  const rows = await db.membership.findMany({
    where: { userId },
    include: { tenant: true },
    orderBy: { tenant: { name: 'asc' } },
  });
  return rows.map((row) => ({ ...row, role: row.role as MemberRole }));
}

/** A tenant's members with their user records, by email. */
export async function listMembersOfTenant(db: Db, tenantId: string): Promise<(Membership & { user: User })[]> {
  const rows = await db.membership.findMany({
    where: { tenantId },
    include: { user: { select: publicUser } },
    orderBy: { user: { email: 'asc' } },
  });
  return rows.map((row) => ({ ...row, role: row.role as MemberRole }));
}

/** Users by id (missing ids are left out), e.g. the owners of one page of keys. */
export async function findUsersByIds(db: Db | Tx, ids: readonly string[]): Promise<User[]> {
  if (ids.length === 0) return [];
  return db.user.findMany({ where: { id: { in: [...new Set(ids)] } }, select: publicUser });
}

/** The memberships of some users, with their tenants (one page of the user list). */
export async function listMembershipsOfUsers(db: Db, userIds: readonly string[]): Promise<(Membership & { tenant: Tenant })[]> {
  if (userIds.length === 0) return [];
  const rows = await db.membership.findMany({
    where: { userId: { in: [...new Set(userIds)] } },
    include: { tenant: true },
    orderBy: { tenant: { name: 'asc' } },
  });
  return rows.map((row) => ({ ...row, role: row.role as MemberRole }));
}

/** Every membership of every user, for the platform admin's user list. */
export async function listAllMemberships(db: Db): Promise<(Membership & { tenant: Tenant })[]> {
  const rows = await db.membership.findMany({ include: { tenant: true }, orderBy: { tenant: { name: 'asc' } } });
  return rows.map((row) => ({ ...row, role: row.role as MemberRole }));
}
