/**
 * Rows of one kind that a key's part of a usage batch holds: the first on one field, the others in
 * an array on another, made only for a second row. A key's part lives until the write (a second),
 * long enough for V8 to copy it twice and promote it, so every object of it costs: an array made
 * for one row is two more (the array and its store). A key has one row of a kind per write but for
 * a write across an hour's or a day's end, or a second outcome; they are found by a scan.
 */

/** A row found by its bucket, and by its outcome where it has one (rollups have none). */
export interface BucketRow {
  bucketStart: number;
  outcome?: string;
}

/** The two fields of a holder where rows of type T are kept: the first, and the others. */
export interface HeldRows<T, F extends string, M extends string> {
  readonly first: F;
  readonly more: M;
  /** Never set: names the rows' type, so that calls infer it. */
  readonly rows?: T;
}

/** A holder of rows of type T on the fields of `HeldRows<T, F, M>`. */
export type Holding<T, F extends string, M extends string> = Record<F, T | null> & Record<M, T[] | null>;

/** Whether `row` is the one of a bucket and outcome. */
export function isBucketRow<T extends BucketRow>(row: T | null | undefined, bucketStart: number, outcome?: string): row is T {
  return row != null && row.bucketStart === bucketStart && row.outcome === outcome;
}

/** The row of a bucket and outcome in a list, if there is one. */
export function findBucketRow<T extends BucketRow>(rows: readonly T[] | null | undefined, bucketStart: number, outcome?: string): T | undefined {
  if (rows) for (const row of rows) if (row.bucketStart === bucketStart && row.outcome === outcome) return row;
  return undefined;
}

/** The row of a bucket and outcome the holder keeps, if there is one. */
export function heldRow<T extends BucketRow, F extends string, M extends string>(
  holder: Holding<NoInfer<T>, F, M>,
  held: HeldRows<T, F, M>,
  bucketStart: number,
  outcome?: string,
): T | undefined {
  const first = holder[held.first] as T | null;
  return isBucketRow(first, bucketStart, outcome) ? first : findBucketRow(holder[held.more] as T[] | null, bucketStart, outcome);
}

/** Keeps a new row: on the first field if it is free, else in the array (made for it if none). */
export function holdRow<T, F extends string, M extends string>(holder: Holding<NoInfer<T>, F, M>, held: HeldRows<T, F, M>, row: T): void {
  const more = holder[held.more] as T[] | null;
  if (holder[held.first] === null) (holder as Record<F, T | null>)[held.first] = row;
  else if (more) more.push(row);
  else (holder as Record<M, T[] | null>)[held.more] = [row];
}

/** Every row of the kind the holder keeps, to `out`, the first first. */
export function pushHeldRows<T, F extends string, M extends string>(holder: Holding<NoInfer<T>, F, M>, held: HeldRows<T, F, M>, out: T[]): void {
  const first = holder[held.first] as T | null;
  if (first !== null) out.push(first);
  const more = holder[held.more] as T[] | null;
  if (more) for (const row of more) out.push(row);
}
