import { randomBytes } from 'node:crypto';

/** The 62 URL-safe characters used by ids and key secrets. */
export const BASE62_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Returns `length` characters drawn uniformly from the base62 alphabet by a CSPRNG. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    // Rejection sampling: bytes >= 248 (= 4 * 62) would bias the modulo, so they are dropped.
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62_ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** Encodes a non-negative integer in base62, left-padded with '0' to `width` characters. */
export function encodeBase62(value: number, width: number): string {
  let out = '';
  let rest = value;
  do {
    out = BASE62_ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  } while (rest > 0);
  return out.padStart(width, '0');
}

/** Entity ids: 16 base62 characters (95 bits), unguessable and URL-safe. */
export function newId(): string {
  return randomBase62(16);
}

let lastTime = 0;
let sequence = 0;

/**
 * Ids that sort by creation time: 8 characters of milliseconds, 3 of a per-process sequence (so
 * ids made in the same millisecond keep their order), 9 random. For append-only records such as
 * audit events, where "newest first" must be exact.
 */
export function newSortableId(): string {
  const now = Date.now();
  if (now === lastTime) {
    sequence += 1;
  } else {
    lastTime = now;
    sequence = 0;
  }
  return encodeBase62(now, 8) + encodeBase62(sequence % 238_328, 3) + randomBase62(9);
}
