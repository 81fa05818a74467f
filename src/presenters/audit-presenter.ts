import { z } from 'zod';
import type { AuditEvent } from '../audit/audit-types';

export const auditEventSchema = z
  .object({
    id: z.string(),
    action: z.string().describe('e.g. key.create, key.revoke, key.rotate, member.add'),
    actor: z.object({ type: z.enum(['user', 'api_key', 'system']), id: z.string().nullable(), label: z.string().nullable() }),
    targetType: z.string(),
    targetId: z.string().nullable(),
    changes: z.record(z.string(), z.object({ before: z.unknown(), after: z.unknown() })).nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    createdAt: z.iso.datetime({ offset: true }),
  });

export type AuditEventView = z.infer<typeof auditEventSchema>;

export function presentAuditEvent(event: AuditEvent): AuditEventView {
  return {
    id: event.id,
    action: event.action,
    actor: { type: event.actorType, id: event.actorId, label: event.actorLabel },
    targetType: event.targetType,
    targetId: event.targetId,
    changes: event.changes,
    ip: event.ip,
    userAgent: event.userAgent,
    createdAt: event.createdAt.toISOString(),
  };
}
