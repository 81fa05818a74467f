import type { Tenant } from '../../tenants/tenant-types';
import type { Db, Tx } from '../client-types';

export async function insertTenant(tx: Tx, tenant: { id: string; name: string; slug: string }, now = new Date()): Promise<Tenant> {
  return tx.tenant.create({ data: { ...tenant, createdAt: now, updatedAt: now } });
}

export async function findTenantById(db: Db | Tx, id: string): Promise<Tenant | null> {
  return db.tenant.findUnique({ where: { id } });
}

export async function findTenantBySlug(db: Db | Tx, slug: string): Promise<Tenant | null> {
  return db.tenant.findUnique({ where: { slug } });
}

export async function listTenants(db: Db): Promise<Tenant[]> {
  return db.tenant.findMany({ orderBy: { name: 'asc' } });
}

export async function renameTenant(tx: Tx, id: string, name: string, now = new Date()): Promise<Tenant> {
  return tx.tenant.update({ where: { id }, data: { name, updatedAt: now } });
}

