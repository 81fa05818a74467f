import { generateKey } from '../../packages/guard/src/keys/key-format';
import { KeyHasher } from '../../packages/guard/src/keys/key-hasher';

describe('KeyHasher', () => {
  const hasher = new KeyHasher({ 1: 'first-secret-0123456789abcdefghijkl' });
  const { key } = generateKey('kw');

  it('stores an HMAC-SHA256, never the key', () => {
    const hash = hasher.hash(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(key.slice(16, 30));
    expect(hasher.hash(key)).toBe(hash);
  });

  it('depends on the secret', () => {
    const other = new KeyHasher({ 1: 'other-secret-0123456789abcdefghijkl' });
    expect(other.hash(key)).not.toBe(hasher.hash(key));
  });

  it('matches the right key only', () => {
    const hash = hasher.hash(key);
    expect(hasher.matches(key, hash, 1)).toBe(true);
    expect(hasher.matches(generateKey('kw').key, hash, 1)).toBe(false);
    expect(hasher.matches(key, hash.slice(0, 62), 1)).toBe(false);
  });

  it('verifies old versions and hashes new keys with the newest secret', () => {
    const rotated = new KeyHasher({ 1: 'first-secret-0123456789abcdefghijkl', 2: 'second-secret-0123456789abcdefghijk' });
    expect(rotated.currentVersion).toBe(2);
    expect(rotated.matches(key, hasher.hash(key), 1)).toBe(true);
    expect(rotated.matches(key, hasher.hash(key), 2)).toBe(false);
    expect(hasher.matches(key, hasher.hash(key), 9)).toBe(false);
  });
});
