import type { AuditChanges, AuditEvent, AuditEventInput, AuditLabels } from '../../audit/audit-types';
import { newSortableId } from '@keyward/guard';
import type { Db, Prisma, Tx } from '../client-types';

/** Appends an audit event; call it inside the transaction of the change it describes. */
export async function insertAuditEvent(tx: Tx, event: AuditEventInput, at = new Date()): Promise<void> {
  await tx.auditEvent.create({
    data: {
      id: newSortableId(),
      tenantId: event.tenantId,
      actorType: event.actor.type,
      actorId: event.actor.id,
      actorLabel: event.actor.label,
      action: event.action,
      targetType: event.targetType,
      targetId: event.targetId,
      targetLabel: event.targetLabel ?? null,
      changes: (event.changes ?? undefined) as Prisma.InputJsonValue | undefined,
      labels: event.labels && Object.keys(event.labels).length > 0 ? event.labels : undefined,
      ip: event.actor.ip ?? null,
      userAgent: event.actor.userAgent ?? null,
      createdAt: at,
    },
  });
}

export interface AuditQuery {
  /** null lists platform-level events (tenant and user administration). */
  tenantId: string | null;
  action?: string;
  targetId?: string;
  actorId?: string;
  /** Only events of that kind of actor: a user, an API key (through /api/v1), or the system. */
  actorType?: AuditEvent['actorType'];
  from?: Date;
  to?: Date;
  page: number;
  size: number;
}

/** Newest first, with the total count for pagination. */
export async function listAuditEvents(db: Db, query: AuditQuery): Promise<{ rows: AuditEvent[]; total: number }> {
  const where: Prisma.AuditEventWhereInput = {
    tenantId: query.tenantId,
    ...(query.action ? { action: query.action } : {}),
    ...(query.targetId ? { targetId: query.targetId } : {}),
    ...(query.actorId ? { actorId: query.actorId } : {}),
    ...(query.actorType ? { actorType: query.actorType } : {}),
    ...(query.from || query.to ? { createdAt: { gte: query.from, lt: query.to } } : {}),
  };
  const [rows, total] = await Promise.all([
    db.auditEvent.findMany({
      where,
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      skip: (query.page - 1) * query.size,
      take: query.size,
    }),
    db.auditEvent.count({ where }),
  ]);
  return {
    total,
    rows: rows.map((row) => ({
      id: row.id,
      tenantId: row.tenantId,
      actorType: row.actorType as AuditEvent['actorType'],
      actorId: row.actorId,
      actorLabel: row.actorLabel,
      action: row.action,
      targetType: row.targetType as AuditEvent['targetType'],
      targetId: row.targetId,
      changes: (row.changes as AuditChanges | null) ?? null,
      targetLabel: row.targetLabel,
      labels: (row.labels as AuditLabels | null) ?? null,
      ip: row.ip,
      userAgent: row.userAgent,
      createdAt: row.createdAt,
    })),
  };
}

/**
 * The API keys that made changes in a tenant (through the management API), each with a name it
 * acted under (a renamed key shows one of its names), by name. Uses the (tenantId, actorType,
 * actorId) index.
 */
export async function listApiKeyActors(db: Db, tenantId: string, limit = 200): Promise<{ id: string; label: string }[]> {
  const rows = await db.auditEvent.groupBy({
    by: ['actorId'],
    where: { tenantId, actorType: 'api_key', actorId: { not: null } },
    _max: { actorLabel: true },
    orderBy: { actorId: 'asc' },
    take: limit,
  });
  return rows
    .map((row) => ({ id: row.actorId as string, label: row._max.actorLabel ?? (row.actorId as string) }))
    .sort((a, b) => a.label.localeCompare(b.label));
}
