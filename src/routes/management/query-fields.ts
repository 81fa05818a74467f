/** Query-string fields shared by the management API's read routes (zod, with messages naming the fix). */
import { z } from 'zod';

/** An empty value (a filter form's "any") means "not given". */
export const blankAsMissing = (value: unknown) => (value === '' ? undefined : value);

/** `format=json` (default) or `format=csv` (a download with a header row). */
export const formatField = z.preprocess(blankAsMissing, z.enum(['json', 'csv'], { error: 'must be json or csv' }).default('json'));

/** A whole number in [1, max] given as text. */
export const countField = (max: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max.toLocaleString('en-US')}`);

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** 2026-02-30 parses (as March 2nd): a real day reads back the same. */
function isCalendarDay(text: string): boolean {
  const ms = Date.parse(`${text}T00:00:00Z`);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 10) === text;
}

/** A point in time: an ISO 8601 date-time with offset, or a UTC day (YYYY-MM-DD, its 00:00 UTC). */
export const instantField = z.preprocess(
  blankAsMissing,
  z
    .string({ error: 'must be an ISO 8601 date-time or a date (YYYY-MM-DD)' })
    .refine((text) => (DATE_ONLY.test(text) ? isCalendarDay(text) : z.iso.datetime({ offset: true }).safeParse(text).success), {
      message: 'must be an ISO 8601 date-time or a date (YYYY-MM-DD)',
    })
    .transform((text) => new Date(DATE_ONLY.test(text) ? `${text}T00:00:00Z` : text))
    .optional(),
);

/** A UTC day, YYYY-MM-DD, as its 00:00 UTC in ms. */
export const dayField = z.preprocess(
  blankAsMissing,
  z
    .string({ error: 'must be a date (YYYY-MM-DD)' })
    .refine((text) => DATE_ONLY.test(text) && isCalendarDay(text), {
      message: 'must be a date (YYYY-MM-DD)',
    })
    .transform((text) => Date.parse(`${text}T00:00:00Z`))
    .optional(),
);
