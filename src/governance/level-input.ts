/**
 * What PATCH /api/v1/tenant and PATCH /api/v1/owners/{userId}/limits accept (and the dashboard's
 * forms send): a key's field names, each optional (absent: unchanged), null clearing a limit.
 */
import { z } from 'zod';
import { budgetInput, MAX_INT32, MAX_TOKEN_LIMIT } from '../keys/key-input';
import { parseInput, wholeNumber } from '../lib/validation';
import type { LevelLimits, TenantLimits } from '@keyward/guard';

const requests = wholeNumber(1, MAX_INT32).nullable().optional();
const tokens = wholeNumber(1, MAX_TOKEN_LIMIT).nullable().optional();

const levelFields = {
  budget: budgetInput.optional(),
  rateLimits: z
    .strictObject({ perMinute: requests, perHour: requests, perDay: requests, perMonth: requests }, { error: 'must be an object like {"perMinute": 600}' })
    .optional(),
  tokenLimits: z
    .strictObject({ perMinute: tokens, perDay: tokens }, { error: 'must be an object like {"perMinute": 100000, "perDay": 5000000}' })
    .optional(),
};

/** The body of PATCH /api/v1/owners/{userId}/limits. */
export const ownerLimitsPatchSchema = z.strictObject(levelFields, { error: 'must be a JSON object' });

/** The body of PATCH /api/v1/tenant: an owner's fields plus the alert thresholds. */
export const tenantLimitsPatchSchema = z.strictObject(
  {
    ...levelFields,
    alertThresholds: z
      .array(wholeNumber(1, 100), { error: 'must be a list of percents like [50, 80, 100]' })
      .max(10, 'must list at most 10 thresholds')
      .refine((list) => new Set(list).size === list.length, 'must not repeat a threshold')
      .optional(),
  },
  { error: 'must be a JSON object' },
);

export type LevelLimitsPatch = z.output<typeof ownerLimitsPatchSchema>;
export type TenantLimitsPatch = z.output<typeof tenantLimitsPatchSchema>;

/** The limits after applying a patch (windows merge one by one, as on keys). */
export function applyLevelPatch<T extends LevelLimits>(before: T, patch: LevelLimitsPatch): LevelLimits {
  const windows = <W extends object>(current: W, change: { [K in keyof W]?: number | null } | undefined): W => {
    const merged = { ...current } as Record<string, unknown>;
    for (const [name, value] of Object.entries(change ?? {})) if (value !== undefined) merged[name] = value;
    return merged as W;
  };
  return {
    budget: patch.budget === undefined ? before.budget : patch.budget,
    rateLimits: windows(before.rateLimits, patch.rateLimits),
    tokenLimits: windows(before.tokenLimits, patch.tokenLimits),
  };
}

export function parseOwnerLimitsPatch(input: unknown): LevelLimitsPatch {
  return parseInput(ownerLimitsPatchSchema, input ?? {});
}

export function parseTenantLimitsPatch(input: unknown): TenantLimitsPatch {
  return parseInput(tenantLimitsPatchSchema, input ?? {});
}

/** Sorted, as alerts are checked from the lowest threshold up. */
export function thresholdsOf(limits: Pick<TenantLimits, 'alertThresholds'>): number[] {
  return [...limits.alertThresholds].sort((a, b) => a - b);
}
