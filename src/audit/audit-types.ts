/** Who did something, recorded on every audit event. */
export interface Actor {
  type: 'user' | 'api_key' | 'system';
  /** User id or key id; null for the system. */
  id: string | null;
  /** Email, key name or process name at the time of the action. */
  label: string;
  ip?: string | null;
  userAgent?: string | null;
}

/** Field-level changes: before and after values of each changed field. */
export type AuditChanges = Record<string, { before: unknown; after: unknown }>;

export interface AuditEventInput {
  tenantId: string | null;
  actor: Actor;
  action: string;
  targetType: 'api_key' | 'user' | 'tenant' | 'membership' | 'session' | 'webhook';
  targetId: string | null;
  /** The target's name now (key name, email, tenant name), kept with the event. */
  targetLabel?: string | null;
  changes?: AuditChanges | null;
  /** Names of other ids the changes mention (a key's owners), kept with the event. */
  labels?: AuditLabels | null;
}

/** `{"<id>": "<name>"}`: how ids read at the time of the event. */
export type AuditLabels = Record<string, string>;

export interface AuditEvent extends Omit<AuditEventInput, 'actor'> {
  id: string;
  actorType: Actor['type'];
  actorId: string | null;
  actorLabel: string | null;
  ip: string | null;
  userAgent: string | null;
  changes: AuditChanges | null;
  targetLabel: string | null;
  labels: AuditLabels | null;
  createdAt: Date;
}

/** An actor for work the system does on its own (cleanup, bootstrap). */
export function systemActor(label = 'keyward'): Actor {
  return { type: 'system', id: null, label };
}

/** The changed fields between two snapshots, limited to `fields`. */
export function diffFields<T extends object>(before: T, after: T, fields: readonly (keyof T)[]): AuditChanges {
  const changes: AuditChanges = {};
  for (const field of fields) {
    const a = toAuditValue(before[field]);
    const b = toAuditValue(after[field]);
    if (JSON.stringify(a) !== JSON.stringify(b)) changes[String(field)] = { before: a, after: b };
  }
  return changes;
}

/** Snapshot values as they are stored in the event (dates as ISO strings). */
export function toAuditValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (value === undefined) return null;
  return value;
}
