import { z } from 'zod';
import type { Actor } from '../audit/audit-types';
import type { Database } from '../data/database';
import { isUniqueViolation } from '../data/errors';
import { insertAuditEvent } from '../data/repositories/audit-events';
import { findTenantById, findTenantBySlug, insertTenant, listTenants, renameTenant } from '../data/repositories/tenants';
import { conflict, notFound } from '../errors';
import { newId } from '@keyward/guard';
import { parseInput } from '../lib/validation';
import type { Tenant } from './tenant-types';

const tenantName = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, 'must not be blank')
  .max(100, 'must be at most 100 characters');

/** Slugs: lower-case letters, digits and inner hyphens, 1-50 characters (used in URLs and the CLI). */
export const tenantSlug = z
  .string({ error: 'must be a string' })
  .trim()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$/, 'must be 1-50 lower-case letters, digits or inner hyphens');

const createTenantSchema = z.strictObject({ name: tenantName, slug: tenantSlug });
const renameTenantSchema = z.strictObject({ name: tenantName });

/** Tenants: created and renamed by platform admins. */
export class TenantService {
  constructor(private readonly db: Database) {}

  async create(input: unknown, actor: Actor): Promise<Tenant> {
    const { name, slug } = parseInput(createTenantSchema, input);
    if (await findTenantBySlug(this.db.prisma, slug)) throw conflict('slug', `The slug "${slug}" is taken.`);
    try {
      return await this.db.transaction(async (tx) => {
        const tenant = await insertTenant(tx, { id: newId(), name, slug });
        await insertAuditEvent(tx, {
          tenantId: tenant.id,
          actor,
          action: 'tenant.create',
          targetType: 'tenant',
          targetId: tenant.id,
          targetLabel: name,
          changes: { name: { before: null, after: name }, slug: { before: null, after: slug } },
        });
        return tenant;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('slug', `The slug "${slug}" is taken.`);
      throw error;
    }
  }

  async rename(id: string, input: unknown, actor: Actor): Promise<Tenant> {
    const { name } = parseInput(renameTenantSchema, input);
    return this.db.transaction(async (tx) => {
      const before = await findTenantById(tx, id);
      if (!before) throw notFound('Tenant');
      const tenant = await renameTenant(tx, id, name);
      await insertAuditEvent(tx, {
        tenantId: id,
        actor,
        action: 'tenant.rename',
        targetType: 'tenant',
        targetId: id,
        targetLabel: name,
        changes: { name: { before: before.name, after: name } },
      });
      return tenant;
    });
  }

  findBySlug(slug: string): Promise<Tenant | null> {
    return findTenantBySlug(this.db.prisma, slug);
  }

  async getBySlug(slug: string): Promise<Tenant> {
    const tenant = await findTenantBySlug(this.db.prisma, slug);
    if (!tenant) throw notFound('Tenant');
    return tenant;
  }

  async getById(id: string): Promise<Tenant> {
    const tenant = await findTenantById(this.db.prisma, id);
    if (!tenant) throw notFound('Tenant');
    return tenant;
  }

  list(): Promise<Tenant[]> {
    return listTenants(this.db.prisma);
  }
}
