/**
 * The key string: `<prefix>_<id>_<secret><checksum>`, e.g. `kw_AbCd1234EfGh_…`.
 *   prefix    KEY_PREFIX (lower-case letters/digits), so keys are recognisable in code and logs;
 *   id        12 base62 characters, the non-secret public id used for lookup;
 *   secret    43 base62 characters from a CSPRNG (256 bits);
 *   checksum  6 base62 characters of CRC-32 over everything before it (GitHub's token scheme),
 *             so typos and garbage are rejected without touching storage.
 * Every character is URL-safe.
 */
import { crc32 } from 'node:zlib';
import { encodeBase62, randomBase62 } from '../lib/base62';

export const KEY_ID_LENGTH = 12;
export const KEY_SECRET_LENGTH = 43;
export const KEY_CHECKSUM_LENGTH = 6;

/** The parts of a well-formed key whose checksum matches. */
export interface ParsedKey {
  prefix: string;
  id: string;
}

/** A fresh key: the full secret string (shown once) and what may be stored about it. */
export interface GeneratedKey {
  key: string;
  id: string;
  last4: string;
}

function checksum(body: string): string {
  return encodeBase62(crc32(body), KEY_CHECKSUM_LENGTH);
}

const KEY_ID_PATTERN = new RegExp(`^[0-9A-Za-z]{${KEY_ID_LENGTH}}$`);

/** True when `id` has the shape of a key id (so anything else is not looked up at all). */
export function isKeyId(id: string): boolean {
  return KEY_ID_PATTERN.test(id);
}

/** Generates a new key, with a new public id unless `id` is given (regenerate and rotate keep it). */
export function generateKey(prefix: string, id: string = randomBase62(KEY_ID_LENGTH)): GeneratedKey {
  const body = `${prefix}_${id}_${randomBase62(KEY_SECRET_LENGTH)}`;
  const key = body + checksum(body);
  return { key, id, last4: key.slice(-4) };
}

/** Parses a presented key's shape (not its checksum); null when it is malformed. */
export function parseKeyFormat(candidate: string): ParsedKey | null {
  // Every guarded request parses its key: the shape is checked by hand (KEY_PATTERN's exec made a
  // match array and four strings per request). The shape: ^[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}$
  // (test/unit/key-format.test.ts holds this parser to that expression).
  const length = candidate.length;
  const tail = 1 + KEY_ID_LENGTH + 1 + KEY_SECRET_LENGTH + KEY_CHECKSUM_LENGTH;
  const prefixLength = length - tail;
  if (prefixLength < 1 || prefixLength > 16) return null;
  const first = candidate.charCodeAt(0);
  if (first < 97 || first > 122) return null;
  for (let i = 1; i < prefixLength; i++) {
    const c = candidate.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57))) return null;
  }
  const idStart = prefixLength + 1;
  const idEnd = idStart + KEY_ID_LENGTH;
  if (candidate.charCodeAt(prefixLength) !== 95 || candidate.charCodeAt(idEnd) !== 95) return null;
  for (let i = idStart; i < length; i++) {
    if (i !== idEnd && !isBase62(candidate.charCodeAt(i))) return null;
  }
  return { prefix: candidate.slice(0, prefixLength), id: candidate.slice(idStart, idEnd) };
}

function isBase62(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** True when the last 6 characters are the CRC-32 of the rest. */
export function checksumMatches(candidate: string): boolean {
  const split = candidate.length - KEY_CHECKSUM_LENGTH;
  return checksum(candidate.slice(0, split)) === candidate.slice(split);
}

/** Parses a presented key; returns null when it is malformed or its checksum does not match. */
export function parseKey(candidate: string): ParsedKey | null {
  const parsed = parseKeyFormat(candidate);
  return parsed && checksumMatches(candidate) ? parsed : null;
}

/** The non-secret display form of a key, e.g. `kw_AbCd1234EfGh…`. */
export function displayPrefix(prefix: string, id: string): string {
  return `${prefix}_${id}…`;
}
