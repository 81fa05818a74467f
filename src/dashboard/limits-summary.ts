/**
 * A level's request and token windows in words, for compact lists: "600 requests/min",
 * "5,000,000 tokens/day". Windows without a limit are left out.
 */
import type { LevelRateLimits, TokenLimits } from '@keyward/guard';
import { formatCount } from './format';

const REQUEST_WINDOWS: [keyof LevelRateLimits, string][] = [
  ['perMinute', 'min'],
  ['perHour', 'hour'],
  ['perDay', 'day'],
  ['perMonth', 'month'],
];
const TOKEN_WINDOWS: [keyof TokenLimits, string][] = [
  ['perMinute', 'min'],
  ['perDay', 'day'],
];

/** The windows a level limits, in words; empty when it limits none. */
export function limitWindows(limits: { rateLimits: LevelRateLimits; tokenLimits: TokenLimits }): string[] {
  const out: string[] = [];
  for (const [field, unit] of REQUEST_WINDOWS) {
    const value = limits.rateLimits[field];
    if (value !== null) out.push(`${formatCount(value)} requests/${unit}`);
  }
  for (const [field, unit] of TOKEN_WINDOWS) {
    const value = limits.tokenLimits[field];
    if (value !== null) out.push(`${formatCount(value)} tokens/${unit}`);
  }
  return out;
}
