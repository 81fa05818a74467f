import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { displayPrefix, generateKey, KEY_SECRET_LENGTH, parseKey, parseKeyFormat } from '../../packages/guard/src/keys/key-format';
import { encodeBase62 } from '../../packages/guard/src/lib/base62';

describe('key format', () => {
  it('is <prefix>_<12-char id>_<43-char secret><6-char checksum>, URL-safe only', () => {
    const { key, id, last4 } = generateKey('kw');
    expect(key).toMatch(/^kw_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}$/);
    expect(encodeURIComponent(key)).toBe(key);
    expect(key.startsWith(`kw_${id}_`)).toBe(true);
    expect(last4).toBe(key.slice(-4));
  });

  it('carries at least 192 bits of secret randomness', () => {
    expect(KEY_SECRET_LENGTH * Math.log2(62)).toBeGreaterThanOrEqual(192);
    const secrets = new Set(Array.from({ length: 1000 }, () => generateKey('kw').key.slice(16, 16 + KEY_SECRET_LENGTH)));
    expect(secrets.size).toBe(1000);
  });

  it('uses every base62 character roughly uniformly', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      for (const ch of generateKey('kw').key.slice(16, 16 + KEY_SECRET_LENGTH)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(counts.size).toBe(62);
    const expected = (2000 * KEY_SECRET_LENGTH) / 62;
    for (const count of counts.values()) expect(Math.abs(count - expected) / expected).toBeLessThan(0.15);
  });

  it('ends with the base62 CRC-32 of everything before the checksum', () => {
    const { key } = generateKey('kw');
    const body = key.slice(0, -6);
    expect(key.slice(-6)).toBe(encodeBase62(crc32(body), 6));
  });

  it('parses its own keys and keeps an id it is given', () => {
    const { key, id } = generateKey('acme', 'AbCd1234EfGh');
    expect(id).toBe('AbCd1234EfGh');
    expect(parseKey(key)).toEqual({ prefix: 'acme', id: 'AbCd1234EfGh' });
  });

  it('rejects a key with one character changed (checksum mismatch)', () => {
    const { key } = generateKey('kw');
    const position = 20;
    const changed = key.slice(0, position) + (key[position] === 'a' ? 'b' : 'a') + key.slice(position + 1);
    expect(parseKey(changed)).toBeNull();
  });

  it.each([
    ['empty', ''],
    ['garbage', 'not-a-key'],
    ['no prefix', '_AbCd1234EfGh_' + 'a'.repeat(49)],
    ['short secret', 'kw_AbCd1234EfGh_' + 'a'.repeat(30)],
    ['non base62', 'kw_AbCd1234EfGh_' + '-'.repeat(49)],
    ['too long', 'kw_' + 'a'.repeat(500)],
    ['upper-case prefix', 'KW_AbCd1234EfGh_' + 'a'.repeat(49)],
  ])('rejects malformed input: %s', (_label, candidate) => {
    expect(parseKey(candidate)).toBeNull();
  });

  it('shows the non-secret display form', () => {
    expect(displayPrefix('kw', 'AbCd1234EfGh')).toBe('kw_AbCd1234EfGh…');
  });
});

/** The shape as the regular expression the hand-written parser replaced (the oracle). */
const SHAPE = /^([a-z][a-z0-9]{0,15})_([0-9A-Za-z]{12})_([0-9A-Za-z]{43})([0-9A-Za-z]{6})$/;
const byRegex = (candidate: string) => {
  const match = SHAPE.exec(candidate);
  return match ? { prefix: match[1], id: match[2] } : null;
};

describe('parseKeyFormat: the shape checked by hand, as the regular expression would', () => {
  const base62 = fc.constantFrom(...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'.split(''));
  const near = fc.constantFrom(...'_-.:/@`[{ \u00e9\u0000AZaz09'.split(''));
  // Keys of every prefix length around the bounds, then mutated: a character replaced, dropped or added.
  const shaped = fc
    .tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,17}$/), fc.array(base62, { minLength: 12, maxLength: 12 }), fc.array(base62, { minLength: 49, maxLength: 49 }))
    .map(([prefix, id, rest]) => `${prefix}_${id.join('')}_${rest.join('')}`);
  const mutated = fc.tuple(shaped, fc.nat(), fc.oneof(base62, near), fc.constantFrom('replace', 'drop', 'insert', 'none')).map(([key, at, ch, how]) => {
    const i = at % (key.length + 1);
    if (how === 'replace') return key.slice(0, i) + ch + key.slice(i + 1);
    if (how === 'drop') return key.slice(0, i) + key.slice(i + 1);
    if (how === 'insert') return key.slice(0, i) + ch + key.slice(i);
    return key;
  });

  it('answers what the regular expression answers, for near-keys and any string', () => {
    fc.assert(fc.property(fc.oneof(mutated, fc.string({ maxLength: 120 }), fc.string({ unit: 'grapheme', maxLength: 90 })), (candidate) => {
      expect(parseKeyFormat(candidate)).toEqual(byRegex(candidate));
    }), { numRuns: 5000 });
  });

  it('accepts prefixes of 1 to 16 characters and no longer', () => {
    for (let n = 1; n <= 17; n++) {
      const { key } = generateKey('k'.repeat(n));
      expect(parseKeyFormat(key)).toEqual(n <= 16 ? { prefix: 'k'.repeat(n), id: key.slice(n + 1, n + 13) } : null);
    }
  });
});
