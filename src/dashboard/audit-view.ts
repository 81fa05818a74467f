/**
 * How audit events read on the dashboard: known actions by name, who acted (a person or an API
 * key), the target by the name it had then, and every changed field as a human before → after
 * line ("budget: $5.00 monthly", "rate limits: 20/min", "spend: $0.0158", "owner: ann@example.com").
 */
import type { AuditChanges, AuditEvent, AuditLabels } from '../audit/audit-types';
import { exactTime, formatBudget, formatCount, formatMicroCents } from './format';

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

/** How many change lines an event shows before the rest folds under "+N more". */
export const VISIBLE_CHANGES = 5;

const MAX_VALUE = 160;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

const RATE_WINDOWS: [string, string][] = [
  ['perMinute', 'min'],
  ['perHour', 'hour'],
  ['perDay', 'day'],
  ['perMonth', 'month'],
];

/** Field names as people say them. */
const FIELD_LABELS: Record<string, string> = {
  rateLimits: 'rate limits',
  tokenLimits: 'token limits',
  maxConcurrentRequests: 'max concurrent requests',
  allowedIps: 'allowed IPs',
  allowedModels: 'allowed models',
  allowedChatbots: 'allowed chatbots',
  usageLimit: 'request quota',
  usageLimitPeriod: 'quota period',
  notifyOnNewIp: 'new IP alert',
  expiresAt: 'expires',
  ownerId: 'owner',
  revokedAt: 'revoked at',
  last4: 'secret ends in',
  previousSecretExpiresAt: 'old secret works until',
  requestsOk: 'requests ok',
  requestsFailed: 'requests failed',
  spendMicroCents: 'spend',
  budgetSpentMicroCents: 'budget spent',
  isPlatformAdmin: 'platform admin',
};

/** What an empty value means, per field ("—" otherwise). */
const EMPTY_MEANS: Record<string, string> = {
  allowedIps: 'any address',
  allowedModels: 'every model',
  allowedChatbots: 'any chatbot',
  tags: 'none',
  usageLimit: 'no quota',
  budget: 'no budget',
  expiresAt: 'never',
  ownerId: 'no owner',
  rateLimits: 'tier defaults',
  tokenLimits: 'no token limits',
  maxConcurrentRequests: 'no limit',
  description: '(empty)',
  metadata: '{}',
};

/** Settings a new key has unless someone chose otherwise: a creation does not list them. */
const CREATION_DEFAULTS: Record<string, unknown> = { usageLimitPeriod: 'total', notifyOnNewIp: false };

function clip(text: string): string {
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

/** Not worth listing in a creation: nothing, or an object of nulls (rate limits without overrides). */
function isEmpty(value: unknown): boolean {
  return (
    value === null ||
    value === undefined ||
    value === '' ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => v === null))
  );
}

/** Rate-limit overrides as "20/min, 1,000/day" (windows without an override use the tier's). */
function rateLimitsText(value: Record<string, unknown>): string {
  return RATE_WINDOWS.filter(([field]) => typeof value[field] === 'number')
    .map(([field, unit]) => `${formatCount(value[field] as number)}/${unit}`)
    .join(', ');
}

const TOKEN_WINDOWS: [string, string][] = [
  ['perMinute', 'min'],
  ['perDay', 'day'],
];

/** Token limits as "2,000 tokens/min, 100,000 tokens/day" (windows without a limit left out). */
function tokenLimitsText(value: Record<string, unknown>): string {
  return TOKEN_WINDOWS.filter(([field]) => typeof value[field] === 'number')
    .map(([field, unit]) => `${formatCount(value[field] as number)} tokens/${unit}`)
    .join(', ');
}

/** One value of a field, as people read it. */
export function showValue(field: string, value: unknown, labels: AuditLabels | null = null): string {
  const nothing =
    value === null ||
    value === undefined ||
    value === '' ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === 'object' && Object.keys(value).length === 0);
  if (nothing) return EMPTY_MEANS[field] ?? '—';
  switch (field) {
    case 'spendMicroCents':
    case 'budgetSpentMicroCents':
      return typeof value === 'number' ? formatMicroCents(value) : String(value);
    case 'requestsOk':
    case 'requestsFailed':
    case 'tokens':
      return typeof value === 'number' ? formatCount(value) : String(value);
    case 'usageLimit':
      return typeof value === 'number' ? `${formatCount(value)} requests` : String(value);
    case 'budget': {
      const budget = value as { limitCents?: unknown; period?: unknown };
      if (typeof budget.limitCents === 'number' && typeof budget.period === 'string') {
        return formatBudget({ limitCents: budget.limitCents, period: budget.period });
      }
      break;
    }
    case 'rateLimits':
      if (typeof value === 'object' && value !== null) return rateLimitsText(value as Record<string, unknown>) || EMPTY_MEANS.rateLimits;
      break;
    case 'tokenLimits':
      if (typeof value === 'object' && value !== null) return tokenLimitsText(value as Record<string, unknown>) || EMPTY_MEANS.tokenLimits;
      break;
    case 'maxConcurrentRequests':
      return typeof value === 'number' ? `${formatCount(value)} at once` : String(value);
    case 'ownerId':
      return typeof value === 'string' ? (labels?.[value] ?? value) : String(value);
    case 'last4':
      return `…${String(value)}`;
    default:
      if (typeof value === 'boolean') return value ? 'yes' : 'no';
  }
  if (typeof value === 'string') return clip(ISO_TIME.test(value) ? exactTime(new Date(value)) : value);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return clip(value.join(', '));
  if (typeof value === 'number') return formatCount(value);
  return clip(JSON.stringify(value));
}

/** One changed field as shown: its name, and before → after (no "before" for a creation). */
export interface ChangeLine {
  field: string;
  label: string;
  before: string | null;
  after: string;
}

/**
 * Every changed field of an event as display lines. A creation (every "before" empty) lists only
 * the values that were set, without a "before".
 */
export function describeChanges(changes: AuditChanges | null, labels: AuditLabels | null = null): ChangeLine[] {
  if (!changes) return [];
  const entries = Object.entries(changes);
  const created = entries.every(([, change]) => change.before === null);
  return entries
    .filter(([field, change]) => !created || !(isEmpty(change.after) || CREATION_DEFAULTS[field] === change.after))
    .map(([field, change]) => ({
      field,
      label: FIELD_LABELS[field] ?? field,
      before: created ? null : showValue(field, change.before, labels),
      after: showValue(field, change.after, labels),
    }));
}

/** The label of an action ("Key revoked"), or the action itself. */
export function actionLabel(action: string): string {
  return AUDIT_ACTIONS[action] ?? action;
}

/** An event as the audit table shows it. */
export interface AuditRow {
  event: AuditEvent;
  actor: { label: string; kind: 'person' | 'API key' | 'Keyward' };
  action: string;
  target: { label: string | null; id: string | null; kind: string; href: string | null };
  /** The first VISIBLE_CHANGES lines, and the rest (folded under "+N more"). */
  changes: ChangeLine[];
  more: ChangeLine[];
}

const TARGET_KINDS: Record<string, string> = { api_key: 'key', user: 'user', membership: 'member', tenant: 'tenant', session: 'session', webhook: 'webhook' };

/**
 * Events as rows of the audit table. `liveKeys` are the ids of the events' keys that still exist
 * in the tenant: only those are linked (a deleted key's page would be a 404).
 */
export function auditRows(events: AuditEvent[], liveKeys: ReadonlySet<string>): AuditRow[] {
  return events.map((event) => {
    const lines = describeChanges(event.changes, event.labels);
    return {
      event,
      actor: {
        label: event.actorLabel || event.actorId || event.actorType,
        kind: event.actorType === 'api_key' ? 'API key' : event.actorType === 'system' ? 'Keyward' : 'person',
      },
      action: actionLabel(event.action),
      target: {
        label: event.targetLabel,
        id: event.targetId,
        kind: TARGET_KINDS[event.targetType] ?? event.targetType,
        href: event.targetType === 'api_key' && event.targetId && liveKeys.has(event.targetId) ? `/keys/${event.targetId}` : null,
      },
      changes: lines.slice(0, VISIBLE_CHANGES),
      more: lines.slice(VISIBLE_CHANGES),
    };
  });
}

const KEY_FILTER = /^(?:[a-z][a-z0-9]{0,15}_)?([0-9A-Za-z]{12})(?:(?:…|\.\.\.)[0-9A-Za-z]{0,4}|_[0-9A-Za-z]+)?$/;

/**
 * The key id in what a person typed in the key filter: the bare id (`AbCd1234EfGh`), the
 * displayed form (`kw_AbCd1234EfGh…`, with or without the last 4), or a whole key (only its id
 * is used). Null when it is none of these.
 */
export function keyIdOfFilter(text: string): string | null {
  const match = KEY_FILTER.exec(text.trim());
  return match ? match[1] : null;
}
