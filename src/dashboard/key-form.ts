/**
 * The create/edit key form: flat form fields ↔ the key service's input. Lists are typed one per
 * line or comma-separated, a budget in dollars, rate limits blank for the tier's default. Field
 * issues from the key service (key-input.ts) are mapped back to the form field they came from,
 * so each message appears beside its field and every typed value is kept.
 */
import type { FieldIssue } from '../errors';
import { validationError } from '../errors';
import { parseCreateKeyInput, parseUpdateKeyInput } from '../keys/key-input';
import type { ApiKeyRecord } from '@keyward/guard';
import { isManagementScope } from './policy';

/** Raw form values as the browser sent them (repeated fields become arrays). */
export type FormValues = Record<string, string | string[] | undefined>;

/** The rate-limit override fields, in form order. */
export const RATE_FIELDS = ['perMinute', 'perHour', 'perDay', 'perMonth'] as const;

/** The token-limit fields of the form, by tokenLimits window (perDay is taken by rate limits). */
export const TOKEN_FIELDS = { perMinute: 'tokensPerMinute', perDay: 'tokensPerDay' } as const;

/** The first value of a field, as text. */
export function text(values: FormValues, name: string): string {
  const value = values[name];
  return (Array.isArray(value) ? (value[0] ?? '') : (value ?? '')).toString();
}

/** Every value of a repeated field (checkboxes). */
export function all(values: FormValues, name: string): string[] {
  const value = values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String).filter((v) => v !== '');
}

/** Splits "a, b\nc" into ["a", "b", "c"]. */
export function splitList(value: string, separators: RegExp = /[\n,]+/): string[] {
  return value
    .split(separators)
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** "1,000" → 1000; "" → null; "abc" → NaN (the key service names the field). */
export function wholeNumber(value: string): number | null {
  const cleaned = value.replace(/[\s,_]/g, '');
  return cleaned === '' ? null : Number(cleaned);
}

/** A budget amount as typed in dollars: "25", "$12.50" (whole dollars, then cents). */
export const DOLLARS = /^\$?(\d{1,9})(?:\.(\d{1,2}))?$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/;

/** Maps a key-service field path to the form field showing its message. */
export function formFieldOf(path: string): string {
  const [head, sub] = path.split('.');
  if (head === 'rateLimits' && sub) return sub;
  if (head === 'tokenLimits') return TOKEN_FIELDS[sub as keyof typeof TOKEN_FIELDS] ?? TOKEN_FIELDS.perMinute;
  if (head === 'budget') return sub === 'period' ? 'budgetPeriod' : 'budgetAmount';
  if (head === '(body)') return 'form';
  return head;
}

/** Issues by form field, with list entries named ("entry 3: ..."). */
export function formErrors(issues: FieldIssue[]): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of issues) {
    const field = formFieldOf(issue.field);
    const index = /^(tags|scopes|allowedModels|allowedChatbots)\.(\d+)$/.exec(issue.field);
    const message = index ? `entry ${Number(index[2]) + 1} ${issue.message}` : issue.message;
    errors[field] = errors[field] ? `${errors[field]}; ${message}` : message;
  }
  return errors;
}

/** The expiry choices as the form names them. */
const EXPIRY_LABELS: Record<string, string> = {
  keep: '"Keep as it is"',
  never: '"Never expires"',
  days: '"Expires after a number of days"',
  date: '"Expires at a date and time"',
};

/**
 * A typed expiry that the chosen option would ignore ("90" days with "Never expires" still
 * selected): a message asking which one was meant, or null. On edit the date field starts with
 * the key's current expiry, so only a changed date counts as typed.
 */
function expiryConflict(values: FormValues, expiry: string, context: KeyFormContext): string | null {
  const days = text(values, 'expiresInDays').trim();
  const at = text(values, 'expiresAt').trim();
  const current = context.key?.expiresAt ? context.key.expiresAt.toISOString().slice(0, 16) : '';
  const chosen = EXPIRY_LABELS[expiry];
  if (!chosen) return null;
  if (expiry !== 'days' && days !== '') {
    return `you typed ${days} days but chose ${chosen}: choose ${EXPIRY_LABELS.days}, or clear the days`;
  }
  if (expiry !== 'date' && at !== '' && at !== current && at.slice(0, 16) !== current) {
    return `you typed the date ${at.replace('T', ' ')} but chose ${chosen}: choose ${EXPIRY_LABELS.date}, or clear the date`;
  }
  return null;
}

/** Who submits the form, and for which key. */
export interface KeyFormContext {
  mode: 'create' | 'edit';
  /** Owners and admins choose a key's owner and may grant management scopes; members' keys are their own. */
  chooseOwner: boolean;
  viewerId: string;
  /** The key being edited. */
  key?: ApiKeyRecord;
}

/** The key-service input a submitted form describes, and issues the form itself can tell. */
export function keyInputFromForm(values: FormValues, context: KeyFormContext): { input: Record<string, unknown>; issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const input: Record<string, unknown> = {
    name: text(values, 'name'),
    description: text(values, 'description'),
    tags: splitList(text(values, 'tags')),
    allowedIps: splitList(text(values, 'allowedIps'), /[\s,]+/),
    allowedModels: all(values, 'allowedModels'),
    allowedChatbots: splitList(text(values, 'allowedChatbots')),
    tier: text(values, 'tier') || 'free',
  };

  const scopes = splitList(text(values, 'scopes'), /[\s,]+/);
  if (scopes.length > 0 || context.mode === 'edit') input.scopes = scopes;
  // Members hold none of the management scopes, so they grant none (the key service also refuses
  // them any change to a key that holds one).
  const beyond = context.chooseOwner ? [] : scopes.filter((s) => isManagementScope(s));
  if (beyond.length > 0) {
    issues.push({ field: 'scopes', message: `only owners and admins of the tenant can grant ${beyond.join(', ')}` });
  }

  const metadata = text(values, 'metadata').trim();
  if (metadata === '') {
    input.metadata = {};
  } else {
    try {
      input.metadata = JSON.parse(metadata);
    } catch {
      issues.push({ field: 'metadata', message: 'must be a JSON object, e.g. {"team": "search"}' });
    }
  }

  const rateLimits: Record<string, number | null> = {};
  for (const field of RATE_FIELDS) rateLimits[field] = wholeNumber(text(values, field));
  input.rateLimits = rateLimits;
  input.tokenLimits = {
    perMinute: wholeNumber(text(values, TOKEN_FIELDS.perMinute)),
    perDay: wholeNumber(text(values, TOKEN_FIELDS.perDay)),
  };
  input.maxConcurrentRequests = wholeNumber(text(values, 'maxConcurrentRequests'));
  input.usageLimit = wholeNumber(text(values, 'usageLimit'));
  // The select always sends a period; a kept draft without one falls back to the default.
  input.usageLimitPeriod = text(values, 'usageLimitPeriod') || 'total';
  // An unchecked checkbox sends nothing: absent means "off" (the form always shows it).
  input.notifyOnNewIp = text(values, 'notifyOnNewIp') !== '';

  const period = text(values, 'budgetPeriod');
  const amount = text(values, 'budgetAmount').replace(/[\s,]/g, '');
  if (period === '') {
    input.budget = null;
    if (amount !== '') issues.push({ field: 'budgetPeriod', message: 'choose "total" or "monthly" to set a budget, or clear the amount' });
  } else {
    const match = DOLLARS.exec(amount);
    if (!match) {
      issues.push({
        field: 'budgetAmount',
        message: amount === '' ? 'is required for a budget (in dollars, e.g. 25 or 12.50)' : 'must be an amount in dollars, e.g. 25 or 12.50',
      });
    } else {
      input.budget = { limitCents: Number(match[1]) * 100 + Number((match[2] ?? '0').padEnd(2, '0')), period };
    }
  }

  const expiry = text(values, 'expiry') || (context.mode === 'edit' ? 'keep' : 'never');
  const conflict = expiryConflict(values, expiry, context);
  if (conflict) {
    issues.push({ field: 'expiry', message: conflict });
  } else if (expiry === 'never') {
    input.expiresAt = null;
  } else if (expiry === 'days') {
    input.expiresInDays = wholeNumber(text(values, 'expiresInDays')) ?? Number.NaN;
  } else if (expiry === 'date') {
    const at = text(values, 'expiresAt').trim();
    if (!DATE_TIME.test(at)) {
      issues.push({ field: 'expiresAt', message: 'must be a date and time (UTC), e.g. 2027-01-31T00:00' });
    } else {
      input.expiresAt = `${at.length === 16 ? `${at}:00` : at}Z`;
    }
  } else if (expiry !== 'keep') {
    issues.push({ field: 'expiry', message: 'must be one of never, days, date' });
  }

  if (context.chooseOwner) input.ownerId = text(values, 'ownerId') || null;
  else if (context.mode === 'create') input.ownerId = context.viewerId;

  return { input, issues };
}

/**
 * Validates a submitted form without writing anything: throws a validation error listing the
 * form's own issues together with the key service's, so every bad field is reported at once.
 */
export function assertValidKeyForm(values: FormValues, context: KeyFormContext, now: Date): Record<string, unknown> {
  const { input, issues } = keyInputFromForm(values, context);
  if (issues.length === 0) return input;
  const rest = { ...input };
  for (const issue of issues) {
    if (issue.field === 'budgetAmount' || issue.field === 'budgetPeriod') delete rest.budget;
    else delete rest[issue.field];
  }
  try {
    if (context.mode === 'create') parseCreateKeyInput(rest, now);
    else parseUpdateKeyInput(rest, now);
  } catch (error) {
    const more = (error as { details?: FieldIssue[] }).details ?? [];
    throw validationError([...issues, ...more]);
  }
  throw validationError(issues);
}

/** Cents as the form shows a budget amount: 1250 → "12.50". */
export function dollars(cents: number): string {
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

/** The form's values for an existing key (edit), or the defaults of a new one. */
export function formValuesOf(key: ApiKeyRecord | null): FormValues {
  if (!key) {
    return { tier: 'free', scopes: 'api', expiry: 'never', budgetPeriod: '', metadata: '', usageLimitPeriod: 'total' };
  }
  return {
    name: key.name,
    description: key.description,
    tags: key.tags.join(', '),
    metadata: Object.keys(key.metadata).length > 0 ? JSON.stringify(key.metadata, null, 2) : '',
    scopes: key.scopes.join(', '),
    allowedIps: key.allowedIps.join('\n'),
    allowedModels: key.allowedModels,
    allowedChatbots: key.allowedChatbots.join(', '),
    tier: key.tier,
    perMinute: key.rateLimits.perMinute?.toString() ?? '',
    perHour: key.rateLimits.perHour?.toString() ?? '',
    perDay: key.rateLimits.perDay?.toString() ?? '',
    perMonth: key.rateLimits.perMonth?.toString() ?? '',
    tokensPerMinute: key.tokenLimits.perMinute?.toString() ?? '',
    tokensPerDay: key.tokenLimits.perDay?.toString() ?? '',
    maxConcurrentRequests: key.maxConcurrentRequests?.toString() ?? '',
    usageLimit: key.usageLimit?.toString() ?? '',
    usageLimitPeriod: key.usageLimitPeriod,
    notifyOnNewIp: key.notifyOnNewIp ? 'on' : '',
    budgetPeriod: key.budget?.period ?? '',
    budgetAmount: key.budget ? dollars(key.budget.limitCents) : '',
    expiry: 'keep',
    expiresAt: key.expiresAt ? key.expiresAt.toISOString().slice(0, 16) : '',
    ownerId: key.ownerId ?? '',
  };
}
