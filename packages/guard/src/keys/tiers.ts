import type { RateLimitOverrides, RateLimits, Tier } from './key-types';

/** Default request limits per tier (per minute, hour, day, 30-day month). */
export const TIER_LIMITS: Record<Tier, RateLimits> = {
  free: { perMinute: 10, perHour: 100, perDay: 1_000, perMonth: 10_000 },
  pro: { perMinute: 100, perHour: 2_000, perDay: 25_000, perMonth: 500_000 },
  enterprise: { perMinute: 1_000, perHour: 10_000, perDay: 100_000, perMonth: 2_000_000 },
};

/** The highest override accepted per window. */
export const MAX_RATE_LIMITS: RateLimits = {
  perMinute: 10_000,
  perHour: 100_000,
  perDay: 1_000_000,
  perMonth: 30_000_000,
};

/** A key's effective limits: its override where set, else its tier's default. */
export function effectiveRateLimits(tier: Tier, overrides: RateLimitOverrides): RateLimits {
  const defaults = TIER_LIMITS[tier];
  return {
    perMinute: overrides.perMinute ?? defaults.perMinute,
    perHour: overrides.perHour ?? defaults.perHour,
    perDay: overrides.perDay ?? defaults.perDay,
    perMonth: overrides.perMonth ?? defaults.perMonth,
  };
}
