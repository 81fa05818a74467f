/**
 * Long answers written a slice at a time, the event loop free between slices. A report or export
 * of 10,000 rows is megabytes of JSON or CSV: built and serialized at once it held the app's
 * thread for tens of milliseconds, and /api p99 rose 7-fold while one person reloaded usage by
 * key (bench:pages). The bytes are those of the whole text written at once.
 */
import { once } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Response } from 'express';

/** Items serialized per slice (a few milliseconds of work). */
const SLICE = 500;
/** Bytes of a JSON text written at a time (sendJsonText). */
const TEXT_PART_BYTES = 256 * 1024;

/** Until the response can take more, or has closed (the client left). */
async function drained(res: Response): Promise<void> {
  const done = new AbortController();
  try {
    await Promise.race([once(res, 'drain', { signal: done.signal }), once(res, 'close', { signal: done.signal })]);
  } finally {
    done.abort();
  }
}

/**
 * Writes `opening`, the text of each slice of `perSlice` items (`text(slice, first)`, its own separator
 * before all but the first), then `closing`, and ends the response. Headers must be set before.
 * Stops when the client leaves.
 */
export async function writeSliced<T>(
  res: Response,
  opening: string,
  items: readonly T[],
  text: (slice: readonly T[], first: boolean) => string | Uint8Array,
  closing: string,
  perSlice = SLICE,
): Promise<void> {
  res.write(opening);
  for (let i = 0; i < items.length; i += perSlice) {
    if (res.destroyed) return;
    const flowing = res.write(text(items.slice(i, i + perSlice), i === 0));
    // A socket that takes the bytes at once emits 'drain' before the loop turns: turn it anyway.
    if (!flowing) await drained(res);
    await nextTurn();
  }
  if (!res.destroyed) res.end(closing);
}

/** Answers `{ ...head, [field]: items.map(present) }` as res.json() would, a slice at a time. */
export async function sendJsonList<T>(res: Response, head: Record<string, unknown>, field: string, items: readonly T[], present: (item: T) => unknown): Promise<void> {
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  const whole = JSON.stringify({ ...head, [field]: [] });
  // `{...,"data":[]}` split before its last two characters: the items go between. A slice is
  // one array stringified without its brackets (one call for 500 items: about a fifth less time).
  const slice = (part: readonly T[], first: boolean) => (first ? '' : ',') + JSON.stringify(part.map(present)).slice(1, -1);
  await writeSliced(res, whole.slice(0, -2), items, slice, whole.slice(-2));
}

/**
 * Answers `{ ...head, [field]: json }` where `json` is JSON text already (a database built it), as
 * res.json() would answer the parsed value, `partBytes` at a time. The text is encoded once and
 * cut into bytes: a part may end inside a character, whose bytes the next part completes (text
 * cut into parts would be encoded part by part, a character split between two lost).
 */
export async function sendJsonText(res: Response, head: Record<string, unknown>, field: string, json: string, partBytes = TEXT_PART_BYTES): Promise<void> {
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  // `{...,"data":null}` split before `null}`: the text goes between.
  const whole = JSON.stringify({ ...head, [field]: null });
  const bytes = Buffer.from(json, 'utf8');
  const parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += partBytes) parts.push(bytes.subarray(at, at + partBytes));
  await writeSliced(res, whole.slice(0, -5), parts, ([part]) => part, '}', 1);
}
