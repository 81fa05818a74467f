/** The largest magnitude a number an app hands the guard may have: beyond it, integers are not exact. */
export const SAFE_LIMIT = Number.MAX_SAFE_INTEGER;

/** How an error message states the numbers the guard takes from an app. */
export const SAFE_RANGE = `a finite number between -${SAFE_LIMIT} and ${SAFE_LIMIT}`;

/**
 * What `value` is when it is not a finite number within ±Number.MAX_SAFE_INTEGER, for an error
 * message ("NaN", "Infinity", "1e+300", or its type: "string"), or null when it is one. A NaN, an
 * infinity or a number past a bigint column's range that reached a usage batch made the database
 * refuse the batch every time it was sent.
 */
export function notSafeNumber(value: unknown): string | null {
  if (typeof value === 'number') return Number.isFinite(value) && Math.abs(value) <= SAFE_LIMIT ? null : String(value);
  return typeof value;
}
