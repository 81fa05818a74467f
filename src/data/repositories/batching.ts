/** Helpers for batch writes: rows per statement, and one order for every writer. */

/** Rows per statement: well under SQLite's and PostgreSQL's parameter limits. */
export const CHUNK = 400;

/** `items` in slices of at most `size`. */
export function chunks<T>(items: T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Compares strings by code unit (the same order in every process, whatever the locale). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
