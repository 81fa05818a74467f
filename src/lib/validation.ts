import { z } from 'zod';
import { type FieldIssue, validationError } from '../errors';

/** Turns zod issues into field issues named by path (e.g. `rateLimits.perMinute`, `allowedIps.2`). */
export function toFieldIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    const base = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ field: base ? `${base}.${key}` : key, message: 'is not a known field' });
      continue;
    }
    issues.push({ field: base || '(body)', message: issue.message });
  }
  return issues;
}

/** Parses `input` with `schema`, or throws a 400 validation_error listing every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(toFieldIssues(result.error));
  return result.data;
}

/** A whole number in [min, max], with messages that say which bound was missed. */
export const wholeNumber = (min: number, max: number) =>
  z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min.toLocaleString('en-US')}`)
    .max(max, `must be at most ${max.toLocaleString('en-US')}`);
