import { z } from 'zod';
import type { AuditEvent } from '../audit/audit-types';

export const auditEventSchema = z
  .object({
    id: z.string(),
    action: z.string().describe('e.g. key.create, key.revoke, key.rotate, member.add'),
    actor: z.object({ type: z.enum(['user', 'api_key', 'system']), id: z.string().nullable(), label: z.string().nullable() }),
    targetType: z.string(),
    targetId: z.string().nullable(),
    targetLabel: z.string().nullable().describe('The target\'s name when the event was written: key name, email or tenant name'),
    changes: z.record(z.string(), z.object({ before: z.unknown(), after: z.unknown() })).nullable(),
    labels: z
      .record(z.string(), z.string())
      .nullable()
      .describe('Names of other ids in `changes` when the event was written, e.g. {"<ownerId>": "owner@example.com"}'),
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
    targetLabel: event.targetLabel,
    changes: event.changes,
    labels: event.labels,
    ip: event.ip,
    userAgent: event.userAgent,
    createdAt: event.createdAt.toISOString(),
  };
}
