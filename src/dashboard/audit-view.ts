/** How audit events read on the dashboard: known actions by name, changes as short before → after lines. */
import type { AuditChanges } from '../audit/audit-types';
import { exactTime } from './format';

/** Actions people filter by, with a label each. */
export const AUDIT_ACTIONS: Record<string, string> = {
  'key.create': 'Key created',
  'key.update': 'Key edited',
  'key.revoke': 'Key revoked',
  'key.deactivate': 'Key deactivated',
  'key.activate': 'Key activated',
  'key.regenerate': 'Secret regenerated',
  'key.rotate': 'Secret rotated',
  'key.reset_usage': 'Usage reset',
  'key.delete': 'Key deleted',
  'key.expired_cleanup': 'Expired key removed',
  'member.add': 'Member added',
  'member.role_change': 'Role changed',
  'member.remove': 'Member removed',
  'tenant.create': 'Tenant created',
  'tenant.rename': 'Tenant renamed',
  'user.create': 'User created',
  'user.disable': 'User disabled',
  'user.enable': 'User enabled',
  'user.password_change': 'Password changed',
  'user.password_set': 'Password reset (sessions ended)',
};

const MAX_VALUE = 80;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function show(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string' && ISO_TIME.test(value)) return exactTime(new Date(value));
  const strings = Array.isArray(value) && value.every((item) => typeof item === 'string');
  const text = typeof value === 'string' ? value : strings ? (value as string[]).join(', ') || '—' : JSON.stringify(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

const isEmpty = (value: unknown) =>
  value === null ||
  value === undefined ||
  value === '' ||
  (Array.isArray(value) && value.length === 0) ||
  (typeof value === 'object' && value !== null && Object.values(value).every((v) => v === null));

/**
 * The changed fields of an event as display lines (at most `limit`). A creation (every "before"
 * empty) lists only the values that were set, without a "before".
 */
export function describeChanges(
  changes: AuditChanges | null,
  limit = 6,
): { field: string; before: string | null; after: string }[] {
  if (!changes) return [];
  const entries = Object.entries(changes);
  const created = entries.every(([, change]) => change.before === null);
  return entries
    .filter(([, change]) => !created || !isEmpty(change.after))
    .slice(0, limit)
    .map(([field, change]) => ({ field, before: created ? null : show(change.before), after: show(change.after) }));
}

/** The label of an action ("Key revoked"), or the action itself. */
export function actionLabel(action: string): string {
  return AUDIT_ACTIONS[action] ?? action;
}
