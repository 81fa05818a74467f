import type { CsvTable } from '../http/csv-response';
import { auditEventSchema, type AuditEventView } from './audit-presenter';

/**
 * Audit events as CSV: one column per field of the JSON event, in its order (so the export follows
 * the API when fields are added); the actor as actorType, actorId, actorLabel; nested values
 * (changes, names) as JSON text.
 */
export function auditEventsCsv(events: AuditEventView[]): CsvTable {
  const fields = Object.keys(auditEventSchema.shape) as (keyof AuditEventView)[];
  const header = fields.flatMap((field) => (field === 'actor' ? ['actorType', 'actorId', 'actorLabel'] : [field]));
  const rows = events.map((event) =>
    fields.flatMap((field) => (field === 'actor' ? [event.actor.type, event.actor.id, event.actor.label] : [event[field]])),
  );
  return { header, rows };
}
