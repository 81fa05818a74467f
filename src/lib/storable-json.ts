/**
 * What the data layer can store, checked before it is asked to: PostgreSQL refuses NUL characters
 * and unpaired surrogates in text and JSON, Prisma's JSON protocol treats object keys such as
 * `$type` specially, and deep nesting overflows its serializer. Input that would fail there is a
 * 400 with the field named, never a 500.
 */

/** Deepest nesting accepted in JSON values such as key metadata (objects and arrays). */
export const MAX_JSON_DEPTH = 16;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True for text every database stores unchanged: no NUL character, no unpaired surrogate. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !UNPAIRED_SURROGATE.test(text);
}

/** The first reason `value` (parsed JSON) cannot be stored, with its path, or null when it can. */
export function jsonProblem(value: unknown, path = '', depth = 0): { path: string; message: string } | null {
  if (typeof value === 'string') {
    return isStorableText(value) ? null : { path, message: 'must not contain NUL characters or unpaired surrogates' };
  }
  if (typeof value === 'number') return Number.isFinite(value) ? null : { path, message: 'must hold only finite numbers' };
  if (value === null || typeof value === 'boolean') return null;
  if (typeof value !== 'object') return { path, message: 'must hold only JSON values' };
  if (depth >= MAX_JSON_DEPTH) return { path, message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = jsonProblem(value[i], path ? `${path}.${i}` : String(i), depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const at = path ? `${path}.${key}` : key;
    if (key.startsWith('$')) return { path: at, message: 'keys must not start with "$"' };
    if (FORBIDDEN_KEYS.has(key)) return { path: at, message: `"${key}" is not allowed as a key` };
    if (!isStorableText(key)) return { path: at, message: 'keys must not contain NUL characters or unpaired surrogates' };
    const problem = jsonProblem((value as Record<string, unknown>)[key], at, depth + 1);
    if (problem) return problem;
  }
  return null;
}

/**
 * True when `value` (parsed JSON) nests objects and arrays deeper than `limit`. Iterative: a body
 * nested thousands deep (JSON.parse accepts it) must not overflow the stack here either.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (item === null || typeof item !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}
