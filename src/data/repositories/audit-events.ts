import type { AuditChanges, AuditEvent, AuditEventInput, AuditLabels } from '../../audit/audit-types';
import { newSortableId } from '@keyward/guard';
import type { Db, Prisma, Tx } from '../client-types';
import type { Database } from '../database';
import type { ReadParam } from '../list-reads';

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

/** Audit counts stop here ("more than 10,000"): a count never scans a long history. */
export const AUDIT_COUNT_CAP = 10_000;

/**
 * Newest first, with the count of matches up to AUDIT_COUNT_CAP (`totalCapped` beyond). The ids
 * and the count are read through database.reads (off the app's thread on SQLite) on the
 * (tenantId, ..., createdAt, id) indexes; the page's rows by primary key.
 */
export async function listAuditEvents(db: Database, query: AuditQuery): Promise<{ rows: AuditEvent[]; total: number; totalCapped: boolean }> {
  const where: string[] = [query.tenantId === null ? '"tenantId" IS NULL' : '"tenantId" = ?'];
  const params: ReadParam[] = query.tenantId === null ? [] : [query.tenantId];
  const equal = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    where.push(`"${column}" = ?`);
    params.push(value);
  };
  equal('action', query.action);
  equal('targetId', query.targetId);
  equal('actorId', query.actorId);
  equal('actorType', query.actorType);
  if (query.from) {
    where.push('"createdAt" >= ?');
    params.push(db.reads.time(query.from));
  }
  if (query.to) {
    where.push('"createdAt" < ?');
    params.push(db.reads.time(query.to));
  }
  const clause = where.join(' AND ');
  const [ids, counted] = await Promise.all([
    db.reads.all<{ id: string }>(`SELECT "id" FROM "audit_events" WHERE ${clause} ORDER BY "createdAt" DESC, "id" DESC LIMIT ? OFFSET ?`, [
      ...params,
      query.size,
      (query.page - 1) * query.size,
    ]),
    db.reads.all<{ n: unknown }>(`SELECT COUNT(*) AS "n" FROM (SELECT 1 FROM "audit_events" WHERE ${clause} LIMIT ?) c`, [...params, AUDIT_COUNT_CAP + 1]),
  ]);
  const count = Number(counted[0]?.n ?? 0);
  const found = await db.prisma.auditEvent.findMany({ where: { id: { in: ids.map((r) => r.id) } } });
  const byId = new Map(found.map((row) => [row.id, row]));
  const rows = ids.flatMap((r) => (byId.has(r.id) ? [byId.get(r.id) as (typeof found)[number]] : []));
  return {
    total: Math.min(count, AUDIT_COUNT_CAP),
    totalCapped: count > AUDIT_COUNT_CAP,
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
