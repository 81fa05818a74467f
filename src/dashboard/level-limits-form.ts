/**
 * The limits form of a tenant (Settings) and of a member (Members → Limits): flat form fields ↔
 * the body PATCH /api/v1/tenant and PATCH /api/v1/owners/{userId}/limits accept. The fields read
 * like the key form's (a budget in dollars with its period, blank windows for "no limit"), so a
 * limit is typed the same way at every level. Every field is sent, so a blank field clears its
 * limit. The limits service's field issues are mapped back to the field that showed the value.
 */
import { AppError, type FieldIssue, validationError } from '../errors';
import { parseOwnerLimitsPatch, parseTenantLimitsPatch } from '../governance/level-input';
import type { BudgetView, LevelLimits } from '@keyward/guard';
import { DOLLARS, dollars, type FormValues, formFieldOf, RATE_FIELDS, splitList, TOKEN_FIELDS, text, wholeNumber } from './key-form';

/** Which level a form sets: tenants also have alert thresholds. */
export type LimitsLevel = 'tenant' | 'owner';

/** The form's fields, in form order, with their labels (for the error summary). */
export const LIMITS_FIELD_LABELS = {
  budgetPeriod: 'Budget period',
  budgetAmount: 'Budget amount',
  perMinute: 'Requests per minute',
  perHour: 'Requests per hour',
  perDay: 'Requests per day',
  perMonth: 'Requests per month',
  tokensPerMinute: 'Tokens per minute',
  tokensPerDay: 'Tokens per day',
  alertThresholds: 'Alert thresholds',
  form: 'Form',
} as const;

type LimitsField = Exclude<keyof typeof LIMITS_FIELD_LABELS, 'form'>;

/** What the form shows: every field as text. */
export type LimitsFormValues = Record<LimitsField, string>;

/** The largest budget the limits service stores (limitCents is a 32-bit integer). */
const MAX_BUDGET_CENTS = 2_147_483_647;

/** The form's values for a level's current limits. */
export function limitsFormValues(limits: Omit<LevelLimits, 'budget'> & { budget: BudgetView | null; alertThresholds?: number[] }): LimitsFormValues {
  const count = (value: number | null) => (value === null ? '' : String(value));
  return {
    budgetPeriod: limits.budget?.period ?? '',
    budgetAmount: limits.budget ? dollars(limits.budget.limitCents) : '',
    perMinute: count(limits.rateLimits.perMinute),
    perHour: count(limits.rateLimits.perHour),
    perDay: count(limits.rateLimits.perDay),
    perMonth: count(limits.rateLimits.perMonth),
    tokensPerMinute: count(limits.tokenLimits.perMinute),
    tokensPerDay: count(limits.tokenLimits.perDay),
    alertThresholds: (limits.alertThresholds ?? []).join(', '),
  };
}

/** The posted fields as the form shows them again (each cut to a sane length). */
export function readLimitsForm(body: unknown): LimitsFormValues {
  const raw = (body ?? {}) as FormValues;
  const values = {} as LimitsFormValues;
  for (const name of Object.keys(LIMITS_FIELD_LABELS) as (LimitsField | 'form')[]) {
    if (name !== 'form') values[name] = text(raw, name).slice(0, 200);
  }
  return values;
}

/** "50, 80%, 100" → [50, 80, 100]; an entry that is no number becomes NaN (the service names it). */
function thresholdsOf(value: string): number[] {
  return splitList(value, /[\s,;]+/).map((entry) => Number(entry.replace(/%$/, '')));
}

/** The service input the form describes, and the issues only the form can tell (the budget's). */
function inputOf(values: LimitsFormValues, level: LimitsLevel): { input: Record<string, unknown>; issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const input: Record<string, unknown> = {
    rateLimits: Object.fromEntries(RATE_FIELDS.map((field) => [field, wholeNumber(values[field])])),
    tokenLimits: { perMinute: wholeNumber(values[TOKEN_FIELDS.perMinute]), perDay: wholeNumber(values[TOKEN_FIELDS.perDay]) },
  };
  if (level === 'tenant') input.alertThresholds = thresholdsOf(values.alertThresholds);

  const period = values.budgetPeriod;
  const amount = values.budgetAmount.replace(/[\s,]/g, '');
  const match = DOLLARS.exec(amount);
  const cents = match ? Number(match[1]) * 100 + Number((match[2] ?? '0').padEnd(2, '0')) : null;
  if (period === '') {
    input.budget = null;
    if (amount !== '') issues.push({ field: 'budgetPeriod', message: 'choose "total" or "monthly" to set a budget, or clear the amount' });
  } else if (cents === null) {
    issues.push({
      field: 'budgetAmount',
      message: amount === '' ? 'is required for a budget (in dollars, e.g. 25 or 12.50)' : 'must be an amount in dollars, e.g. 25 or 12.50',
    });
  } else if (cents > MAX_BUDGET_CENTS) {
    issues.push({ field: 'budgetAmount', message: `must be at most ${dollars(MAX_BUDGET_CENTS)} dollars` });
  } else {
    input.budget = { limitCents: cents, period };
  }
  return { input, issues };
}

/**
 * The body for the limits service, or a validation error listing the form's own issues together
 * with the service's, so every bad field is reported at once.
 */
export function limitsInputFromForm(values: LimitsFormValues, level: LimitsLevel): Record<string, unknown> {
  const { input, issues } = inputOf(values, level);
  if (issues.length === 0) return input;
  try {
    // The budget is what the form refused; the rest goes to the service's own check.
    (level === 'tenant' ? parseTenantLimitsPatch : parseOwnerLimitsPatch)(input);
  } catch (error) {
    throw validationError([...issues, ...((error as { details?: FieldIssue[] }).details ?? [])]);
  }
  throw validationError(issues);
}

/** Messages by form field for a validation error (threshold entries named), or null for any other error. */
export function limitsFormErrors(error: unknown): Record<string, string> | null {
  if (!(error instanceof AppError) || error.code !== 'validation_error' || !error.details) return null;
  const errors: Record<string, string> = {};
  for (const issue of error.details) {
    const field = formFieldOf(issue.field);
    const entry = /^alertThresholds\.(\d+)$/.exec(issue.field);
    const message = entry ? `entry ${Number(entry[1]) + 1} ${issue.message}` : issue.message;
    errors[field] = errors[field] ? `${errors[field]}; ${message}` : message;
  }
  return errors;
}
