/**
 * What `value` is when it is not a finite number, for an error message ("NaN", "Infinity", or its
 * type: "string"), or null when it is one. Numbers an app hands the guard must be finite: a NaN or
 * an infinity that reached a usage batch made the database refuse the batch every time it was sent.
 */
export function notFinite(value: unknown): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : String(value);
  return typeof value;
}
